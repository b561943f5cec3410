"""Facts about AWS itself that the platform's configuration, the preflight checks and the emulator's
account shapes share, each with the AWS page that states it, so that the three cannot drift."""

from __future__ import annotations

import re

MIN_UNRESERVED_CONCURRENCY = 100
"""Lambda keeps this many of an account's concurrent executions in a region unreserved: "You can
reserve concurrency for as many functions as you like, as long as you leave at least 100
simultaneous executions unreserved for functions that aren't configured with a per-function limit"
(Lambda API reference, PutFunctionConcurrency:
https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html). A function's
`ReservedConcurrentExecutions` that would leave fewer is refused, so an account whose quota is 100
or less (a new account's can be 10) cannot reserve any."""


def reservation_problem(quota: int, reserved: int) -> str | None:
    """Why Lambda refuses to reserve `reserved` executions in total out of `quota`, or None."""
    if reserved <= 0 or quota - reserved >= MIN_UNRESERVED_CONCURRENCY:
        return None
    return (
        f"reserving {reserved} of {quota} concurrent executions leaves {quota - reserved} unreserved, "
        f"and Lambda keeps at least {MIN_UNRESERVED_CONCURRENCY} unreserved"
    )


VPC_ORIGINS_PAGE = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html"
)
"""CloudFront Developer Guide, "Restrict access with VPC origins", section "Supported AWS Regions for
VPC origins": the Regions where VPC origins are offered and the Availability Zones (by zone id) in
them where they are not."""

VPC_ORIGIN_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3"})
"""Zone ids where CloudFront VPC origins are not offered (`VPC_ORIGINS_PAGE`): a VPC origin for a
load balancer with a subnet in one of them cannot be created. Only us-east-1's entry, the Region the
platform runs in, is recorded here; add another Region's entries from that section before choosing
zones there."""

_ZONE_ID = re.compile(r"^(?P<region>[a-z]{2,4}[0-9]+)-az(?P<number>[0-9]+)$")
_DIRECTIONS = {"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}


def zone_id_prefix(region: str) -> str:
    """The prefix of the region's zone ids: `use1` for us-east-1, `euw1` for eu-west-1 (the examples
    of "AWS Availability Zones",
    https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html:
    an AZ ID is the same physical zone in every account, unlike a zone name), `apne1` for
    ap-northeast-1: the area, the initials of the direction, the number."""
    area, direction, number = region.split("-")
    return f"{area}{_DIRECTIONS.get(direction, direction[0])}{number}"


def is_zone_id(value: str) -> bool:
    return bool(_ZONE_ID.match(value))


def default_zone_ids(region: str, count: int) -> tuple[str, ...]:
    """The first `count` zone ids of the region (az1, az2, ...) where VPC origins are offered."""
    prefix = zone_id_prefix(region)
    candidates = (f"{prefix}-az{n}" for n in range(1, 10))
    return tuple(z for z in candidates if z not in VPC_ORIGIN_UNSUPPORTED_ZONE_IDS)[:count]


AURORA_SERVERLESS_V2_MAX_CONNECTIONS_PAGE = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/"
    "aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.max-connections"
)
"""Aurora User Guide, "Maximum connections for Aurora Serverless v2": Aurora derives the default
`max_connections` of a Serverless v2 instance from the memory of its *maximum* ACU, and caps it at
2,000 on Aurora PostgreSQL when the minimum is 0 or 0.5 ACU (an AWS re:Post article explaining that page
shows `SHOW max_connections` = 189 for 0.5-1 ACU, 2,000 for 0.5-16 and 3,360 for 1-16)."""

AURORA_POSTGRES_SERVERLESS_V2_MAX_CONNECTIONS = (
    (1.0, 189),
    (4.0, 823),
    (8.0, 1669),
    (16.0, 3360),
    (32.0, 5000),
)
"""`(maximum ACU, max_connections)` rows of that page's Aurora PostgreSQL column; 5,000 from 32 ACU up.

Evidence, row by row. 189 (1 ACU), 3,360 (16 ACU) and 5,000 (32 ACU and up) are the `SHOW
max_connections` results and caps quoted by AWS's re:Post article on that page ("Working of
max_connections for Amazon Aurora PostgreSQL Serverless"). The page itself could not be read from this
workplace, so 823 (4 ACU) and 1,669 (8 ACU) are not shown from it; they agree within 1 % with AWS's
documented default for Aurora PostgreSQL, `LEAST({DBInstanceClassMemory/9531392}, 5000)` (Aurora User
Guide, "Maximum connections to an Aurora PostgreSQL DB instance"), at 2 GB an ACU (839 and 1,678), a
formula that also gives the quoted rows within 10 % (209 for 189, 3,357 for 3,360). Check them against
the page before sizing anything tighter than half of them (what the Prefect pools take)."""

AURORA_POSTGRES_LOW_MINIMUM_CAP = 2000
"""The cap on Aurora PostgreSQL's `max_connections` with a minimum capacity of 0 or 0.5 ACU."""


def aurora_postgres_max_connections(min_capacity: float, max_capacity: float) -> int:
    """Aurora PostgreSQL Serverless v2's default `max_connections` for a capacity range: the row of the
    largest documented maximum ACU not above `max_capacity` (conservative between rows), capped at
    2,000 when the minimum is 0 or 0.5 ACU."""
    if max_capacity < AURORA_POSTGRES_SERVERLESS_V2_MAX_CONNECTIONS[0][0]:
        raise ValueError(f"Aurora Serverless v2 max_capacity {max_capacity} is below the table's 1 ACU")
    connections = max(
        count for acu, count in AURORA_POSTGRES_SERVERLESS_V2_MAX_CONNECTIONS if acu <= max_capacity
    )
    if min_capacity <= 0.5:
        connections = min(connections, AURORA_POSTGRES_LOW_MINIMUM_CAP)
    return connections
