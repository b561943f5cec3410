"""apps/backstage: the Backstage portal at `portal.<domain>`."""

from infra.ownership import Ownership, Repository

APP_SECRET_LOGICAL_ID = "BackstageAppSecret"
GITHUB_SECRETS_SETTING = "backstage.github_secrets"
"""The configuration setting that gives the portal the GitHub values once they are set."""

OWNERSHIP = Ownership(
    component="backstage",
    title="Backstage ECS service",
    description="The portal's Fargate service behind the load balancer, the ECR repository blog_portal "
    "pushes its image to, and the portal's app secret.",
    consumers=("Portal users",),
    repositories=(Repository.BLOG_PORTAL,),
    seed_location="infra/modules/apps/backstage",
)
