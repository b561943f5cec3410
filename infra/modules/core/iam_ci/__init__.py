"""core/iam_ci: the OIDC identities of CI (CircleCI) and of the public frontend (Vercel)."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="iam-ci",
    title="IAM roles: CircleCI and Vercel (OIDC)",
    description="OIDC providers for CircleCI and Vercel; the plan and deploy roles of this repository's "
    "pipelines and the read-only role of the public frontend. No long-lived AWS key.",
    consumers=("CircleCI", "Vercel frontend"),
    repositories=(Repository.BLOG_CODE,),
    seed_location="infra/modules/core/iam-*",
)
