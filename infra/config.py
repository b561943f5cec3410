"""One validated configuration per environment.

Each environment has a file `infra/envs/<env>/config.toml` that holds only what differs from the
defaults documented on the models below. `load_config` reads it into one frozen `EnvConfig`; any
invalid value raises `ConfigError` whose message is a single line naming the file, the field and
what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.aws_facts import (
    VPC_ORIGIN_UNSUPPORTED_ZONE_IDS,
    VPC_ORIGINS_PAGE,
    default_zone_ids,
    is_zone_id,
    reservation_problem,
    zone_id_prefix,
)

ENVS_DIR = Path(__file__).resolve().parent / "envs"
CONFIG_FILE_NAME = "config.toml"
PROFILES_DIR_NAME = "_profiles"
PROFILE_KEY = "profile"
_IDENTITY_KEYS = frozenset({"name", "target", "account_id", "region", "domain", PROFILE_KEY})

PLACEHOLDER_ACCOUNT_ID = "111111111111"
SUPPORTED_AURORA_POSTGRES_VERSIONS = ("15.10", "15.12", "16.6", "16.8", "16.9", "17.4", "17.5", "17.7")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Tag keys and values: the characters every tagged type accepts. AWS::CloudFront::Distribution is the
# narrowest (ASCII letters, digits, space and _ - . : / = + @; cfn-lint's schema of its Tag), and
# AWS::ECR::Repository takes values of at most 255 characters where the others take 256.
_TAG_KEY = re.compile(r"^[A-Za-z0-9 _.:/=+@-]{1,128}$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+@-]{0,255}$")
_TAG_VALUE_RULE = (
    "must be at most 255 ASCII letters, digits, spaces or _ . : / = + @ - "
    "(what every tagged AWS type accepts)"
)
PLATFORM_TAG_KEYS = ("owner", "environment", "repository", "component")
"""Tags the stack puts on every resource (infra/tagging.py)."""
MAX_TAGS = 50
"""Tags per resource that IAM roles and ECS services accept (cfn-lint's schemas: Tags maxItems)."""
FARGATE_TASK_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
"""Task CPU units -> the task memory (MiB) Fargate accepts with it, for Linux tasks on x86_64 and
arm64 alike (the table draws no line by architecture; only Windows tasks are narrower). Source: the
ECS API reference of RegisterTaskDefinition `cpu`/`memory` and "Troubleshoot Amazon ECS task
definition invalid CPU or memory errors" in the ECS developer guide. CDK 2.275's
FargateTaskDefinition checks sizes only for Windows, so without this a wrong pair reaches
CloudFormation; infra/modules/apps/ecs_common.py keeps the same table as the construct's own check."""
SUBNET_PREFIXES = (24, 22, 24)
"""Prefix length of the public, application and data subnet of each zone (infra/modules/core/network)."""
ACM_DOMAIN_NAME_MAX = 64
"""ACM takes a certificate's first domain name of at most 64 characters (CDK's acm.Certificate
refuses a longer one); the portal's hostname is that name when the certificate is created here."""
S3_LIFECYCLE_DAYS_MAX = 2**31 - 1
"""S3 lifecycle day counts are the S3 API's `integer` (a 32-bit signed integer in its model)."""


class ConfigError(Exception):
    """A configuration problem, explained in one line."""


class Target(StrEnum):
    """Where an environment deploys."""

    EMULATOR = "emulator"
    AWS = "aws"


@cache
def _known_regions() -> frozenset[str]:
    from botocore.session import Session

    session = Session()
    # The `aws` partition only: the app targets it (the `@aws-cdk/core:target-partitions` flag in
    # infra/app.py), and CloudFront with its us-east-1 certificate exists in no other.
    return frozenset(session.get_available_regions("ec2", partition_name="aws"))


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"must be one of CloudWatch's retention periods: {', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    return value


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]
LifecycleDays = Annotated[int, Field(le=S3_LIFECYCLE_DAYS_MAX)]


def fargate_size_problem(cpu: int, memory_mib: int) -> str | None:
    """Why Fargate refuses a task of `cpu` units and `memory_mib` MiB, or None when it takes it."""
    allowed = FARGATE_TASK_SIZES.get(cpu)
    if allowed is None:
        return f"cpu {cpu} is not a Fargate size: one of {', '.join(map(str, FARGATE_TASK_SIZES))}"
    if memory_mib in allowed:
        return None
    shown = (
        f"{allowed[0]}-{allowed[-1]} MiB in steps of {allowed[1] - allowed[0]}"
        if len(allowed) > 3
        else f"{', '.join(map(str, allowed[:-1]))} or {allowed[-1]} MiB"
    )
    return f"memory_mib {memory_mib} does not fit cpu {cpu}: Fargate takes {shown} with it"


def subnet_layout_end(cidr: str, az_count: int) -> int:
    """The last address the subnets of `az_count` zones take in `cidr`, laid out as CDK's
    `IpAddresses.cidr` does (aws-ec2/lib/network-util.js, NetworkBuilder): in the order of the
    subnet groups, zone by zone, each subnet at the next address aligned to its own size."""
    import ipaddress

    network = ipaddress.IPv4Network(cidr)
    next_free = int(network.network_address)
    for prefix in SUBNET_PREFIXES:
        size = 2 ** (32 - prefix)
        for _ in range(az_count):
            start = -(-next_free // size) * size
            next_free = start + size
    return next_free - 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_enum_values=False)


class NetworkSettings(_Model):
    """The VPC."""

    cidr: str = Field("10.40.0.0/16", description="IPv4 CIDR of the VPC, /16 to /24.")
    az_count: int = Field(2, ge=2, le=3, description="Availability zones spanned (2 or 3).")
    zone_ids: tuple[str, ...] | None = Field(
        None,
        description="Availability zones by zone id (e.g. use1-az1), the same physical zones in every "
        "account, unlike zone names; unset: the region's first az_count ids where CloudFront VPC origins "
        "are offered.",
    )
    nat_gateways: int = Field(
        1, ge=0, le=3, description="NAT gateways; 0 leaves private subnets without internet egress."
    )
    flow_log_retention_days: LogRetentionDays = Field(
        90, description="Retention of the VPC flow logs, in days."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        import ipaddress

        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"must be an IPv4 network such as 10.40.0.0/16 ({exc})") from None
        if not 16 <= net.prefixlen <= 24:
            raise ValueError("prefix length must be between /16 and /24")
        return value

    @field_validator("zone_ids", mode="before")
    @classmethod
    def _zone_ids_list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _zone_ids(self) -> Self:
        if self.zone_ids is None:
            return self
        bad = [z for z in self.zone_ids if not is_zone_id(z)]
        if bad:
            raise ValueError(
                f"zone_ids: {', '.join(bad)} {'is not a zone id' if len(bad) == 1 else 'are not zone ids'} "
                "such as use1-az1"
            )
        if len(set(self.zone_ids)) != len(self.zone_ids):
            raise ValueError("zone_ids: lists a zone twice")
        if len(self.zone_ids) != self.az_count:
            raise ValueError(
                f"zone_ids lists {len(self.zone_ids)} zone{'s' if len(self.zone_ids) != 1 else ''} and "
                f"az_count is {self.az_count}: make them agree"
            )
        unsupported = sorted(set(self.zone_ids) & VPC_ORIGIN_UNSUPPORTED_ZONE_IDS)
        if unsupported:
            raise ValueError(
                f"zone_ids: CloudFront VPC origins are not offered in {', '.join(unsupported)} "
                f"({VPC_ORIGINS_PAGE}): choose other zone ids"
            )
        return self

    @model_validator(mode="after")
    def _nat_within_azs(self) -> Self:
        if self.nat_gateways > self.az_count:
            raise ValueError(f"nat_gateways ({self.nat_gateways}) cannot exceed az_count ({self.az_count})")
        return self

    @model_validator(mode="after")
    def _subnets_fit(self) -> Self:
        import ipaddress

        network = ipaddress.IPv4Network(self.cidr)
        if subnet_layout_end(self.cidr, self.az_count) > int(network.broadcast_address):
            widest = max(
                prefix
                for prefix in range(16, 25)
                if subnet_layout_end(f"0.0.0.0/{prefix}", self.az_count) < 2 ** (32 - prefix)
            )
            raise ValueError(
                f"cidr {self.cidr} cannot hold the subnets of {self.az_count} zones (a "
                f"/{SUBNET_PREFIXES[0]} public, /{SUBNET_PREFIXES[1]} application and /{SUBNET_PREFIXES[2]} "
                f"data subnet each): use a /{widest} or a shorter prefix"
            )
        return self


class AuroraSettings(_Model):
    """The Aurora PostgreSQL Serverless v2 cluster."""

    engine_version: str = Field("16.9", description="Aurora PostgreSQL engine version.")
    min_capacity: float = Field(0.5, ge=0, le=256, description="Minimum ACU (0 allows auto-pause).")
    max_capacity: float = Field(4.0, ge=1, le=256, description="Maximum ACU.")
    backup_retention_days: int = Field(7, ge=7, le=35, description="Automated backup retention, 7-35 days.")
    readers: int = Field(0, ge=0, le=3, description="Serverless v2 readers besides the writer (fail-over).")
    deletion_protection: bool = Field(True, description="Refuse deletion of the cluster.")
    consumer_rotation_days: int = Field(
        30,
        ge=7,
        le=365,
        description="Days between rotations of each consumer login (alternating users); a login a task "
        "started with stays valid at least this long, so tasks must be replaced within it (7-365).",
    )

    @field_validator("engine_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in SUPPORTED_AURORA_POSTGRES_VERSIONS:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_AURORA_POSTGRES_VERSIONS)}")
        return value

    @field_validator("min_capacity", "max_capacity")
    @classmethod
    def _half_steps(cls, value: float) -> float:
        if (value * 2) != int(value * 2):
            raise ValueError("must be a multiple of 0.5 ACU")
        return value

    @model_validator(mode="after")
    def _min_below_max(self) -> Self:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity ({self.min_capacity}) must not exceed max_capacity ({self.max_capacity})"
            )
        return self

    # The restore source (`blog-infra db restore` records it). CloudFormation restores the cluster only
    # when it creates it; a later deploy that drops these would replace the restored cluster with an
    # empty one, so they stay set while that cluster lives (AWS::RDS::DBCluster SnapshotIdentifier docs).
    restore_snapshot: str | None = Field(
        None, min_length=1, description="Snapshot the cluster was restored from; keep it set afterwards."
    )
    restore_source_cluster: str | None = Field(
        None, min_length=1, description="Cluster restored from to a point in time; keep it set afterwards."
    )
    restore_to_time: datetime | None = Field(None, description="That point in time (with its UTC offset).")
    restore_latest: bool = Field(False, description="That point in time was the latest restorable one.")

    @model_validator(mode="after")
    def _one_restore_source(self) -> Self:
        if self.restore_snapshot is not None and self.restore_source_cluster is not None:
            raise ValueError("restore_snapshot and restore_source_cluster exclude each other: keep one")
        timed = int(self.restore_to_time is not None) + int(self.restore_latest)
        if self.restore_source_cluster is not None and timed != 1:
            raise ValueError("restore_source_cluster needs exactly one of restore_to_time, restore_latest")
        if self.restore_source_cluster is None and timed:
            raise ValueError("restore_to_time and restore_latest need restore_source_cluster")
        if self.restore_to_time is not None and self.restore_to_time.utcoffset() is None:
            raise ValueError("restore_to_time needs its UTC offset, e.g. 2025-05-01T12:00:00Z")
        return self


class BucketSettings(_Model):
    """Lifecycle of the data buckets."""

    cached_expiration_days: LifecycleDays = Field(
        30, gt=0, description="Objects in `cached` expire after this."
    )
    noncurrent_version_expiration_days: LifecycleDays = Field(
        90, gt=0, description="Noncurrent versions in versioned buckets expire after this."
    )
    raw_infrequent_access_days: LifecycleDays = Field(
        90, ge=30, description="Objects in `raw` move to Standard-IA after this (at least 30)."
    )


_LEGACY_BUCKET = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,61})[A-Za-z0-9]$")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_BRANCH = re.compile(r"^(?!/)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<![/.])$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")


class EdgeSettings(_Model):
    """CloudFront, the certificate and the load balancer."""

    certificate_arn: str | None = Field(
        None, description="Existing ACM certificate in us-east-1 for both hostnames; unset: one is created."
    )
    cloudfront_prefix_list_id: str = Field(
        "pl-3b927c52", description="CloudFront origin-facing managed prefix list of the region."
    )
    price_class: str = Field("PriceClass_100", description="CloudFront price class.")
    access_log_retention_days: LifecycleDays = Field(
        90, gt=0, description="Edge access logs are kept this long."
    )
    deletion_protection: bool = Field(True, description="Refuse deletion of the load balancer.")
    origin_secret_version: str | None = Field(
        None,
        description="Version id of the origin-lock secret the load balancer rules resolve; each rotation "
        "records its new version here (blog-infra dns rotate-origin). Unset: the version current at "
        "the first deploy.",
    )
    accept_previous_origin_value: bool = Field(
        False,
        description="During an origin-lock rotation: the load balancer also accepts the previous "
        "header value, until Cloudflare sends the new one.",
    )

    @field_validator("origin_secret_version")
    @classmethod
    def _secret_version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9-]{32,64}", value):
            raise ValueError("must be a Secrets Manager version id (32 to 64 letters, digits or '-')")
        return value

    @model_validator(mode="after")
    def _rotation(self) -> EdgeSettings:
        if self.accept_previous_origin_value and self.origin_secret_version is None:
            raise ValueError(
                "accept_previous_origin_value needs origin_secret_version: the previous value exists only "
                "in the version a rotation wrote"
            )
        return self

    @field_validator("certificate_arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        if value is not None and not _CERT_ARN.fullmatch(value):
            raise ValueError("must be an ACM certificate ARN in us-east-1 (CloudFront requires it)")
        return value

    @field_validator("cloudfront_prefix_list_id")
    @classmethod
    def _prefix_list(cls, value: str) -> str:
        if not re.fullmatch(r"pl-[0-9a-f]{8,17}", value):
            raise ValueError("must be a managed prefix list id such as pl-3b927c52")
        return value

    @field_validator("price_class")
    @classmethod
    def _price_class(cls, value: str) -> str:
        if value not in {"PriceClass_100", "PriceClass_200", "PriceClass_All"}:
            raise ValueError("must be PriceClass_100, PriceClass_200 or PriceClass_All")
        return value


class CpuArchitecture(StrEnum):
    """CPU architecture of Fargate tasks."""

    X86_64 = "x86_64"
    ARM64 = "arm64"


class TaskSize(_Model):
    """Fargate size and capacity of one task."""

    cpu: int = Field(1024, description="Task CPU units.")
    memory_mib: int = Field(2048, ge=512, le=122880, description="Task memory in MiB.")
    spot: bool = Field(
        False,
        description="Run on Fargate Spot: about 70% cheaper; a task may be stopped with two minutes' "
        "notice, and ECS starts a replacement.",
    )

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: int) -> int:
        if value not in {256, 512, 1024, 2048, 4096, 8192, 16384}:
            raise ValueError("must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384")
        return value


class WorkerTaskSize(TaskSize):
    """Fargate size and capacity of a Prefect worker task."""

    cpu: int = Field(512, description="Task CPU units.")


class ServiceScaling(TaskSize):
    """Fargate size, capacity and scaling bounds of one service."""

    min_capacity: int = Field(1, ge=1, le=10, description="Fewest running tasks.")
    max_capacity: int = Field(2, ge=1, le=20, description="Most running tasks.")

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity ({self.min_capacity}) must not exceed max_capacity ({self.max_capacity})"
            )
        return self

    @model_validator(mode="after")
    def _fargate_size(self) -> Self:
        problem = fargate_size_problem(self.cpu, self.memory_mib)
        if problem:
            raise ValueError(problem)
        return self


class BackstageSettings(_Model):
    """The portal (image built and pushed by blog_portal)."""

    image_tag: str = Field("latest", description="Tag of the portal image in its ECR repository.")
    scaling: ServiceScaling = Field(default_factory=ServiceScaling)  # type: ignore[arg-type]
    cpu_architecture: Annotated[CpuArchitecture, Field(strict=False)] = Field(
        CpuArchitecture.X86_64,
        description="CPU architecture of the portal's tasks; arm64 (Graviton, about 20% cheaper) needs "
        "an image that blog_portal builds for arm64.",
    )
    github_secrets: bool = Field(
        False,
        description="Give the portal its GitHub token and OAuth app from its app secret, and load its "
        "image's app-config.github.yaml (GitHub sign-in). Turn on once 'blog-infra secrets set backstage' "
        "has stored them: the secret starts with empty values, and the portal does not start with an "
        "empty one or with GitHub sign-in and no client id.",
    )

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not _IMAGE_TAG.fullmatch(value):
            raise ValueError("must be a Docker image tag (letters, digits, '_', '.', '-'; at most 128)")
        return value


class PrefectSettings(_Model):
    """Self-hosted Prefect 3."""

    work_pool: str = Field("blog-ecs", description="ECS work pool the workers poll.")
    workers: int = Field(1, ge=0, le=10, description="Worker tasks.")
    server: ServiceScaling = Field(default_factory=ServiceScaling)  # type: ignore[arg-type]
    worker_task: WorkerTaskSize = Field(
        default_factory=WorkerTaskSize,  # type: ignore[arg-type]
        description="Size and capacity of a worker task.",
    )
    cpu_architecture: Annotated[CpuArchitecture, Field(strict=False)] = Field(
        CpuArchitecture.X86_64,
        description="CPU architecture of the server and worker tasks (the official image is multi-arch).",
    )
    embedded_services: bool = Field(
        False,
        description="Run the background services inside the API task with Prefect's in-memory broker: "
        "no Redis and one task fewer, but the API cannot scale out (server.max_capacity must be 1).",
    )
    embedded_worker: bool = Field(
        False,
        description="Run the worker as a second container of the API task (worker_task.memory_mib of it) "
        "instead of its own service: one task fewer. The API task then holds the worker's permissions, "
        "which control of the API grants in effect anyway. Needs workers = 1 and server.max_capacity = 1.",
    )
    flow_run_spot: bool = Field(False, description="Flow runs start on Fargate Spot.")
    redis_replicas: int = Field(
        0,
        ge=0,
        le=5,
        description="Replicas of the Redis message broker besides the primary; one or more gives automatic "
        "fail-over and Multi-AZ (Redis is on the API's hot path: a failed write fails the request). Needs "
        "embedded_services off (embedded, there is no Redis).",
    )
    flow_run_retention_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="The database vacuum deletes flow runs (with their task runs, states, logs and "
        "artifacts) this many days after they ended.",
    )

    @field_validator("work_pool")
    @classmethod
    def _pool(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
            raise ValueError("must be lowercase letters, digits and dashes")
        return value

    @model_validator(mode="after")
    def _worker_fargate_size(self) -> Self:
        # An embedded worker is a container of the API task, whose size `server` holds.
        if not self.embedded_worker:
            problem = fargate_size_problem(self.worker_task.cpu, self.worker_task.memory_mib)
            if problem:
                raise ValueError(f"worker_task: {problem}")
        return self

    @model_validator(mode="after")
    def _embedded_single_server(self) -> Self:
        if self.embedded_services and self.redis_replicas:
            raise ValueError(
                f"embedded_services needs redis_replicas = 0 (got {self.redis_replicas}): there is no Redis"
            )
        if self.embedded_services and self.server.max_capacity != 1:
            raise ValueError(
                f"embedded_services needs server.max_capacity = 1 (got {self.server.max_capacity}): "
                "the in-memory broker cannot be shared between API tasks"
            )
        if self.embedded_worker:
            if self.workers != 1 or self.server.max_capacity != 1:
                raise ValueError(
                    "embedded_worker needs workers = 1 and server.max_capacity = 1 "
                    f"(got {self.workers} and {self.server.max_capacity}): one API task, one worker in it"
                )
            if self.worker_task.spot:
                raise ValueError(
                    "embedded_worker: worker_task.spot has no effect on a worker inside the API task; "
                    "set server.spot instead"
                )
            if (
                self.worker_task.memory_mib < 512
                or self.server.memory_mib - self.worker_task.memory_mib < 512
            ):
                raise ValueError(
                    f"embedded_worker: worker_task.memory_mib ({self.worker_task.memory_mib}) and what it "
                    f"leaves of server.memory_mib ({self.server.memory_mib}) must each be at least 512"
                )
        return self


class OrkProcessorSettings(_Model):
    """The design-file Lambda; its code is published by blog_data."""

    code_bucket: str | None = Field(
        None, description="Bucket of blog_data's artifact; unset: placeholder code."
    )
    code_key: str | None = Field(None, description="Key of the artifact (a zip).")
    code_version: str | None = Field(None, description="S3 object version of the artifact.")
    handler: str = Field("ork_processor.handler.handler", description="Handler inside the artifact.")

    @field_validator("code_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        # CDK's Bucket.fromBucketName check (aws-s3/lib/bucket.js, _validateBucketName with legacy
        # names allowed), so that the name fails here rather than inside the synthesis.
        if value is not None and (
            not _LEGACY_BUCKET.fullmatch(value)
            or re.search(r"\.-|-\.|\.\.", value)
            or re.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", value)
        ):
            raise ValueError(
                "must be an S3 bucket name: 3-63 letters, digits, '.', '_' or '-', starting and ending "
                "with a letter or digit, no '..', '.-' or '-.', not an IP address"
            )
        return value

    @field_validator("code_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.endswith(".zip") or value.startswith("/") or len(value.encode("utf-8")) > 1024
        ):
            raise ValueError(
                "must be the S3 key of a .zip archive, without a leading '/' (at most 1024 bytes)"
            )
        return value

    @field_validator("code_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or len(value) > 1024):
            raise ValueError("must be the archive's S3 version id, or left unset")
        return value

    @field_validator("handler")
    @classmethod
    def _handler(cls, value: str) -> str:
        if len(value) > 128 or not _HANDLER.fullmatch(value):
            raise ValueError("must be a dotted Python name such as module.function (at most 128 characters)")
        return value

    @model_validator(mode="after")
    def _artifact(self) -> Self:
        if (self.code_bucket is None) != (self.code_key is None):
            raise ValueError(
                "code_bucket and code_key must be set together (or both unset for the placeholder)"
            )
        if self.code_version and not self.code_bucket:
            raise ValueError("code_version needs code_bucket and code_key")
        return self

    @property
    def placeholder(self) -> bool:
        return self.code_bucket is None


class LambdaConcurrencySettings(_Model):
    """Reserved concurrency of the platform's Lambda functions: each reservation both guarantees and
    caps the function's concurrent executions. Lambda refuses reservations that leave fewer than 100
    of the account's quota unreserved, and a new account's quota can be 10, so by default nothing is
    reserved (the functions share the account's unreserved pool); reserve once the quota is raised."""

    account_quota: int = Field(
        10,
        ge=1,
        description="The account's Lambda concurrent-executions quota in the region (Service Quotas; "
        "`blog-infra preflight` reads the real one); the reservations must leave 100 of it unreserved.",
    )
    aurora_bootstrap: int = Field(
        0, ge=0, description="Reserved for the Aurora bootstrap function (1 runs it one at a time); 0: none."
    )
    aurora_rotation: int = Field(
        0, ge=0, description="Reserved for the Aurora rotation function (one per consumer login); 0: none."
    )
    ork_processor: int = Field(0, ge=0, description="Reserved for the ork processor (caps it); 0: none.")

    @property
    def total(self) -> int:
        return self.aurora_bootstrap + self.aurora_rotation + self.ork_processor

    @model_validator(mode="after")
    def _leaves_minimum_unreserved(self) -> Self:
        problem = reservation_problem(self.account_quota, self.total)
        if problem:
            raise ValueError(
                f"{problem} (PutFunctionConcurrency): reserve less (0 reserves none), or raise the quota "
                "(Service Quotas, AWS Lambda, Concurrent executions) and set account_quota to it"
            )
        return self


class CircleCiSettings(_Model):
    """The CircleCI project that plans and deploys this repository through OIDC."""

    org_id: str = Field(
        "00000000-0000-4000-8000-000000000000", description="CircleCI organization id (UUID)."
    )
    project_id: str = Field("00000000-0000-4000-8000-000000000001", description="CircleCI project id (UUID).")
    main_branch: str = Field("main", description="Only this branch may assume the deploy role.")

    @field_validator("main_branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH.fullmatch(value):
            raise ValueError(
                "must be a plain branch name (letters, digits, '.', '_', '/', '-'; no wildcards, "
                "no '..' or '//', not ending with '/' or '.'), e.g. main"
            )
        return value

    @field_validator("org_id", "project_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not _UUID.fullmatch(value):
            raise ValueError(
                "must be a lowercase UUID as CircleCI shows it in the organization/project settings"
            )
        return value


class ObservabilitySettings(_Model):
    """Alarms and the dashboard."""

    dashboard: bool = Field(
        True, description="Keep the platform's CloudWatch dashboard ($3 a month); the alarms stay either way."
    )


class VercelSettings(_Model):
    """The Vercel project of the public frontend (blog_code), trusted read-only through OIDC."""

    team_slug: str = Field("rocketclub", description="Vercel team slug (the OIDC issuer is per team).")
    project: str = Field("blog", description="Vercel project name.")
    environment: str = Field("production", description="Vercel environment allowed to assume the role.")

    @field_validator("team_slug", "project")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?", value):
            raise ValueError(
                "must be a Vercel slug (at most 100 lowercase letters, digits and dashes, "
                "not starting or ending with a dash)"
            )
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if value not in {"production", "preview", "development"}:
            raise ValueError("must be production, preview or development")
        return value


class EnvConfig(_Model):
    """Everything that differs between environments."""

    name: str = Field(description="Environment name; the folder under infra/envs.")
    profile: str | None = Field(
        None,
        description="Profile applied under this file: infra/envs/_profiles/<profile>.toml holds defaults "
        "(standard, lean) that this file can still override; unset: only the defaults below.",
    )
    target: Annotated[Target, Field(strict=False)] = Field(
        Target.AWS, description="`emulator` deploys to the embedded local AWS."
    )
    account_id: str = Field(description="The only AWS account this environment may deploy to.")
    region: str = Field("us-east-1", description="Main AWS region.")
    domain: str = Field(description="Apex domain; the portal and pipelines hostnames live under it.")
    owner: str = Field("platform-team", description="Team that owns the platform (the `owner` tag).")
    repository: str = Field("blog_infra", description="Repository that manages it (the `repository` tag).")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every resource.")
    log_retention_days: LogRetentionDays = Field(90, description="Retention of application logs, in days.")
    network: NetworkSettings = Field(default_factory=NetworkSettings)  # type: ignore[arg-type]
    aurora: AuroraSettings = Field(default_factory=AuroraSettings)  # type: ignore[arg-type]
    buckets: BucketSettings = Field(default_factory=BucketSettings)  # type: ignore[arg-type]
    edge: EdgeSettings = Field(default_factory=EdgeSettings)  # type: ignore[arg-type]
    backstage: BackstageSettings = Field(default_factory=BackstageSettings)  # type: ignore[arg-type]
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)  # type: ignore[arg-type]
    ork_processor: OrkProcessorSettings = Field(default_factory=OrkProcessorSettings)  # type: ignore[arg-type]
    lambda_concurrency: LambdaConcurrencySettings = Field(default_factory=LambdaConcurrencySettings)  # type: ignore[arg-type]
    circleci: CircleCiSettings = Field(default_factory=CircleCiSettings)  # type: ignore[arg-type]
    vercel: VercelSettings = Field(default_factory=VercelSettings)  # type: ignore[arg-type]
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)  # type: ignore[arg-type]
    waiting_for_images: Annotated[tuple[Literal["backstage", "prefect"], ...], Field(strict=False)] = Field(
        (),
        description="Services created at zero tasks, autoscaling held at zero, until their image is in "
        "their ECR repository. `blog-infra deploy` sets it itself on a stack's first deploy (the stack "
        "creates the repositories, so nothing can be pushed before) and keeps it while an image is "
        "missing; set it here to hold a service on purpose.",
    )

    @field_validator("waiting_for_images")
    @classmethod
    def _waiting(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]{1,15}", value):
            raise ValueError("must be 2-16 lowercase letters or digits, starting with a letter")
        return value

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        if not re.fullmatch(r"\d{12}", value):
            raise ValueError("must be a 12-digit AWS account id, quoted as a string")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in _known_regions():
            raise ValueError(
                "is not an AWS region of the commercial `aws` partition (for example us-east-1, eu-west-1)"
            )
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _HOSTNAME.fullmatch(value):
            raise ValueError("must be a lowercase DNS name such as rocketclub.online")
        longest = f"pipelines.{value}"
        if len(longest) > 253:
            raise ValueError(f"is too long: {longest} would exceed the 253 characters of a DNS name")
        return value

    @field_validator("owner", "repository")
    @classmethod
    def _tag_value(cls, value: str) -> str:
        if not value or not _TAG_VALUE.fullmatch(value):
            raise ValueError(_TAG_VALUE_RULE)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
            if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
                raise ValueError(
                    f"tag key {key!r} is not allowed (1-128 ASCII letters, digits, spaces or "
                    "_ . : / = + @ -; not starting with 'aws:')"
                )
            if not _TAG_VALUE.fullmatch(tag_value):
                raise ValueError(f"tag {key!r}: its value {_TAG_VALUE_RULE}")
        extra = len(value.keys() - set(PLATFORM_TAG_KEYS))
        if extra > MAX_TAGS - len(PLATFORM_TAG_KEYS):
            raise ValueError(
                f"{extra} tags: resources take at most {MAX_TAGS} and the platform sets "
                f"{len(PLATFORM_TAG_KEYS)} ({', '.join(PLATFORM_TAG_KEYS)}), so at most "
                f"{MAX_TAGS - len(PLATFORM_TAG_KEYS)} more"
            )
        return value

    @model_validator(mode="after")
    def _production_values(self) -> Self:
        if self.target is Target.AWS and self.backstage.image_tag == "latest":
            raise ValueError(
                "backstage.image_tag: 'latest' is refused for an AWS environment; "
                "pin the tag blog_portal pushed"
            )
        if self.region != "us-east-1" and self.edge.certificate_arn is None:
            raise ValueError(
                "edge.certificate_arn: required when region is not us-east-1 "
                "(CloudFront needs a us-east-1 certificate)"
            )
        return self

    @model_validator(mode="after")
    def _edge_fits_region_and_domain(self) -> Self:
        default_prefix_list = EdgeSettings.model_fields["cloudfront_prefix_list_id"].default
        if self.region != "us-east-1" and self.edge.cloudfront_prefix_list_id == default_prefix_list:
            raise ValueError(
                f"edge.cloudfront_prefix_list_id: {default_prefix_list} is the CloudFront origin-facing "
                f"prefix list of us-east-1; a prefix list belongs to one region: set the id of "
                f"com.amazonaws.global.cloudfront.origin-facing in {self.region}"
            )
        if self.edge.certificate_arn is None and len(self.portal_host) > ACM_DOMAIN_NAME_MAX:
            raise ValueError(
                f"domain: {self.portal_host} is {len(self.portal_host)} characters, and the certificate "
                f"created for it may name at most {ACM_DOMAIN_NAME_MAX}: choose a shorter domain or set "
                "edge.certificate_arn to a certificate issued another way"
            )
        return self

    def placeholders(self) -> list[str]:
        """Settings still at values that only stand in for the organisation's real ones."""
        found = []
        if self.account_id == PLACEHOLDER_ACCOUNT_ID:
            found.append("account_id")
        defaults = CircleCiSettings.model_validate({})
        for name in ("org_id", "project_id"):
            if getattr(self.circleci, name) == getattr(defaults, name):
                found.append(f"circleci.{name}")
        return found

    @property
    def zone_ids(self) -> tuple[str, ...]:
        """The zone ids the network spans: `network.zone_ids`, or the region's default ones."""
        return self.network.zone_ids or default_zone_ids(self.region, self.network.az_count)

    @model_validator(mode="after")
    def _zones_in_region(self) -> Self:
        prefix = zone_id_prefix(self.region)
        foreign = [z for z in self.network.zone_ids or () if not z.startswith(f"{prefix}-az")]
        if foreign:
            raise ValueError(
                f"network.zone_ids: {', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} not "
                f"in {self.region} "
                f"(its zone ids start with {prefix}-az)"
            )
        return self

    @property
    def portal_host(self) -> str:
        return f"portal.{self.domain}"

    @property
    def pipelines_host(self) -> str:
        return f"pipelines.{self.domain}"

    @property
    def stack_name(self) -> str:
        return f"blog-{self.name}"

    @property
    def ssm_prefix(self) -> str:
        return f"/blog/{self.name}"

    @property
    def is_emulated(self) -> bool:
        return self.target is Target.EMULATOR

    @property
    def deletion_protections(self) -> tuple[str, ...]:
        """The deletion protections this configuration turns on, as `section.field` names."""
        flags = {"aurora": self.aurora.deletion_protection, "edge": self.edge.deletion_protection}
        return tuple(f"{name}.deletion_protection" for name, on in flags.items() if on)

    def without_deletion_protection(self) -> EnvConfig:
        """This configuration with every deletion protection off: what a stack's first create is
        synthesized from, so that CloudFormation can roll a failed create back completely (a
        protected load balancer or cluster cannot be deleted, and the stack would end ROLLBACK_FAILED)."""
        return self.model_copy(
            update={
                "aurora": self.aurora.model_copy(update={"deletion_protection": False}),
                "edge": self.edge.model_copy(update={"deletion_protection": False}),
            }
        )


def available_envs(envs_dir: Path = ENVS_DIR) -> list[str]:
    return sorted(p.parent.name for p in envs_dir.glob(f"*/{CONFIG_FILE_NAME}"))


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _describe(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "is not a known setting (check the spelling; see infra/config.py for the fields)"
    if error["type"] == "missing":
        return "is required"
    return message


def profiles_dir(envs_dir: Path = ENVS_DIR) -> Path:
    """The profiles next to the environments; the shipped ones when `envs_dir` has none."""
    folder = envs_dir / PROFILES_DIR_NAME
    return folder if folder.is_dir() else ENVS_DIR / PROFILES_DIR_NAME


def available_profiles(envs_dir: Path = ENVS_DIR) -> list[str]:
    return sorted(p.stem for p in profiles_dir(envs_dir).glob("*.toml"))


def _read_toml(path: Path) -> dict[str, Any]:
    """The TOML table of `path`; any reason it cannot be read is a `ConfigError` naming the file."""
    shown = _shown(path)
    if path.is_dir():
        raise ConfigError(f"{shown}: is a directory, not a file; make it a TOML file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"{shown}: cannot be read ({reason}); check that it exists and its permissions"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{shown}: is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: not valid TOML: {exc}") from None


def _load_profile(name: str, envs_dir: Path, env_file: Path) -> tuple[Path, dict[str, Any]]:
    path = profiles_dir(envs_dir) / f"{name}.toml"
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name) or not (path.is_file() or path.is_dir()):
        known = ", ".join(available_profiles(envs_dir)) or "none"
        raise ConfigError(f"{_shown(env_file)}: profile: unknown profile {name!r}: expected one of {known}")
    values = _read_toml(path)
    identity = sorted(_IDENTITY_KEYS & values.keys())
    if identity:
        raise ConfigError(
            f"{_shown(path)}: {identity[0]}: a profile cannot set it; it belongs in the environment's file"
        )
    return path, values


def _merged(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `under`, table by table."""
    result = dict(under)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result


def _sets(values: dict[str, Any], loc: tuple[int | str, ...]) -> bool:
    current: Any = values
    for part in loc:
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return True


def load_config(env: str, envs_dir: Path = ENVS_DIR, *, profile: str | None = None) -> EnvConfig:
    """Read and validate `infra/envs/<env>/config.toml` on top of its profile, if it names one.

    `profile` replaces the profile the file names (`blog-infra cost --profile`); the file's own values
    still override the profile's.
    """
    path = envs_dir / env / CONFIG_FILE_NAME
    shown = _shown(path)
    if not re.fullmatch(r"[a-z][a-z0-9]*", env) or not (path.is_file() or path.is_dir()):
        known = ", ".join(available_envs(envs_dir)) or "none"
        raise ConfigError(
            f"unknown environment {env!r}: expected one of {known} "
            f"(files {CONFIG_FILE_NAME} under {_shown(envs_dir)})"
        )
    own = _read_toml(path)
    if own.setdefault("name", env) != env:
        raise ConfigError(
            f"{shown}: name: is {own['name']!r} but the file lives under {env!r}; make them agree"
        )
    if profile is not None:
        own[PROFILE_KEY] = profile
    chosen = own.get(PROFILE_KEY)
    profile_file: Path | None = None
    profile_values: dict[str, Any] = {}
    if isinstance(chosen, str):
        profile_file, profile_values = _load_profile(chosen, envs_dir, path)
    raw = _merged(profile_values, own)
    try:
        return EnvConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = _field_path(loc)
        got = first["type"] != "missing" and not isinstance(first["input"], dict)
        value = f" (got {first['input']!r})" if got else ""
        where = f"{field}: " if field else ""
        source = profile_file if profile_file and _sets(profile_values, loc) and not _sets(own, loc) else path
        raise ConfigError(f"{_shown(source)}: {where}{_describe(first)}{value}") from None


@cache
def _repo_root() -> Path:
    return ENVS_DIR.parent.parent


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(_repo_root()))
    except ValueError:
        return str(path)
