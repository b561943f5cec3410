"""apps/prefect: self-hosted Prefect 3 at `pipelines.<domain>`."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="prefect",
    title="Prefect access surface",
    description="Self-hosted Prefect 3: the API and UI behind the load balancer, the background "
    "services, the ECS workers that start flow runs on the shared cluster, and their Redis broker.",
    consumers=("Self-hosted Prefect 3 API and workers", "blog_data flows"),
    repositories=(Repository.BLOG_DATA,),
    seed_location="infra/modules/apps/prefect",
)
