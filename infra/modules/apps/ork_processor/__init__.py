"""apps/ork_processor: the Lambda that processes uploaded design files (the seed's Lambda module)."""

from infra.ownership import Owned, Ownership, Repository

OWNERSHIP = Ownership(
    component="ork-processor",
    title="Lambda ork processor",
    description="The function's infrastructure: trigger on new `*.ork` objects in the design-files "
    "bucket, failure queue, log group and grants. Its code is published by blog_data.",
    consumers=("Deployed from blog_data package",),
    repositories=(Repository.BLOG_DATA,),
    owned=Owned.INFRA_ONLY,
    seed_location="Lambda module",
)
