"""core/rds: the shared Aurora PostgreSQL cluster and one database per consumer."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="rds",
    title="Aurora cluster",
    description="Aurora PostgreSQL Serverless v2 (relational metadata DB), encrypted and TLS-only, with "
    "one database, login role and Secrets Manager secret per consumer, created by a bootstrap function.",
    consumers=("Backstage", "Prefect", "data pipelines"),
    repositories=(Repository.BLOG_PORTAL, Repository.BLOG_DATA),
    seed_location="infra/modules/core/rds",
)
