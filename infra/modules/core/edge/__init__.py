"""core/edge: CloudFront in front of the internal Application Load Balancer, and the modeled DNS."""

from infra.ownership import Ownership

OWNERSHIP = Ownership(
    component="edge",
    title="CloudFront + ALB",
    description="CloudFront with a VPC origin to the internal Application Load Balancer, its listener and "
    "host routes to the ECS services, the certificate, access logs, and the Cloudflare records it needs "
    "(modeled, created in Cloudflare).",
    consumers=("Backstage ECS service", "Prefect ECS services"),
    seed_location="infra/modules/core/edge + ALB modules",
)
