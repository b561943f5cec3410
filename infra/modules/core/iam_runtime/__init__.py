"""core/iam_runtime: the roles of the platform's ECS tasks and of the ork processor Lambda."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="iam-runtime",
    title="IAM roles: ECS tasks and Lambda",
    description="Task roles of Backstage, the Prefect server and worker, the flow runs' task and execution "
    "roles, and the ork processor's execution role; data grants are added by the root stack.",
    consumers=("ECS tasks", "Lambda functions"),
    repositories=(Repository.BLOG_DATA,),
    seed_location="infra/modules/core/iam-*",
)
