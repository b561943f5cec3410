"""core/network: the VPC every AWS service of the platform runs in."""

from infra.ownership import Ownership, Repository

OWNERSHIP = Ownership(
    component="network",
    title="VPC, subnets, routing",
    description="The VPC: public, private application and isolated data subnets, NAT, the S3 gateway "
    "endpoint and flow logs; the default security group admits nothing.",
    consumers=("All AWS services",),
    repositories=(Repository.BLOG_DATA,),
    seed_location="infra/modules/core/network",
)
