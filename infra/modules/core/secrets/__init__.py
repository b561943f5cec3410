"""core/secrets: the secrets of the external services (Neo4j Aura, Cloudinary)."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="secrets",
    title="Secrets Manager secrets",
    description="A customer-managed KMS key and one placeholder secret per external service (Neo4j Aura, "
    "Cloudinary). Database logins live with core/rds, the apps' own secrets with their modules.",
    consumers=("ECS tasks", "Lambda functions"),
    repositories=(Repository.BLOG_DATA, Repository.BLOG_CODE),
    seed_location="infra/modules/core/secrets",
)
