"""core/ecs_cluster: the ECS cluster the services and the Prefect flow runs share."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="ecs-cluster",
    title="ECS cluster and service discovery",
    description="The Fargate cluster (Container Insights, Fargate Spot for flow runs) and the private "
    "Cloud Map namespace in which the Prefect API registers.",
    consumers=("Backstage", "Prefect services", "Prefect flow runs"),
    repositories=(Repository.BLOG_DATA,),
)
