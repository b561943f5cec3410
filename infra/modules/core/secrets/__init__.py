"""core/secrets: the secrets of the external services (Neo4j Aura, Cloudinary)."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="secrets",
    title="Secrets Manager secrets",
    description="A customer-managed KMS key and placeholder secrets for the external services: Neo4j "
    "Aura and Cloudinary for the pipelines, and the public frontend's own (a read-only Neo4j login, the "
    "browser-facing Cloudinary values). Database logins live with core/rds, the apps' own secrets with "
    "their modules.",
    consumers=("ECS tasks", "Lambda functions", "Vercel frontend"),
    repositories=(Repository.BLOG_DATA, Repository.BLOG_CODE),
    seed_location="infra/modules/core/secrets",
)
