"""core/s3_data: the platform's data buckets (the seed's `core/s3-data`)."""

from infra.ownership import Ownership, Repository, Surface

OWNERSHIP = Ownership(
    component="s3-data",
    title="S3 data buckets",
    description="Private, encrypted, TLS-only buckets for cached, raw, clean and design-file data, each "
    "with its lifecycle; new `*.ork` design files trigger the ork processor.",
    consumers=("Prefect flows in blog_data", "Blog frontend", "Lambda ork processor"),
    repositories=(Repository.BLOG_DATA, Repository.BLOG_CODE),
    seed_location="infra/modules/core/s3-data",
    surfaces=(
        Surface(title="S3 data buckets (cached, raw, clean)", consumers=("Prefect flows in blog_data",)),
        Surface(title="S3 design-files bucket", consumers=("Blog frontend", "Lambda ork processor")),
    ),
)
