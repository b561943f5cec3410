"""core/observability: the alerts topic, the alarms of every surface and the platform's dashboard."""

from infra.ownership import Ownership

OWNERSHIP = Ownership(
    component="observability",
    title="Alarms, alerts topic and dashboard",
    description="A KMS-encrypted SNS alerts topic, CloudWatch alarms with a runbook line each for the edge, "
    "the ECS services, Aurora and the ork processor, and one dashboard with a row per surface.",
    consumers=("Platform operators (SREs)",),
)
