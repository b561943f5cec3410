"""core/log_encryption: the KMS key that encrypts the platform's CloudWatch log groups."""

from infra.ownership import Ownership

OWNERSHIP = Ownership(
    component="log-encryption",
    title="CloudWatch Logs encryption key",
    description="A rotated, customer-managed KMS key that only CloudWatch Logs may use, for the log "
    "groups of this account and region.",
    consumers=("The log groups of every module",),
)
