"""One validated configuration per environment.

Each environment has a file `infra/envs/<env>/config.toml` that holds only what differs from the
defaults documented on the models below. `load_config` reads it into one frozen `EnvConfig`; any
invalid value raises `ConfigError` whose message is a single line naming the file, the field and
what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENVS_DIR = Path(__file__).resolve().parent / "envs"
CONFIG_FILE_NAME = "config.toml"

SUPPORTED_AURORA_POSTGRES_VERSIONS = ("15.10", "15.12", "16.6", "16.8", "16.9", "17.4", "17.5", "17.7")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$")
_TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")


class ConfigError(Exception):
    """A configuration problem, explained in one line."""


class Target(StrEnum):
    """Where an environment deploys."""

    EMULATOR = "emulator"
    AWS = "aws"


def _known_regions() -> frozenset[str]:
    from botocore.session import Session

    session = Session()
    regions: set[str] = set()
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(regions)


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of CloudWatch's retention periods: {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return value


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_enum_values=False)


class NetworkSettings(_Model):
    """The VPC."""

    cidr: str = Field("10.40.0.0/16", description="IPv4 CIDR of the VPC, /16 to /24.")
    az_count: int = Field(2, ge=2, le=3, description="Availability zones spanned (2 or 3).")
    nat_gateways: int = Field(
        1, ge=0, le=3, description="NAT gateways; 0 leaves private subnets without internet egress."
    )
    flow_log_retention_days: LogRetentionDays = Field(90, description="Retention of the VPC flow logs, in days.")

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

    @model_validator(mode="after")
    def _nat_within_azs(self) -> Self:
        if self.nat_gateways > self.az_count:
            raise ValueError(
                f"nat_gateways ({self.nat_gateways}) cannot exceed az_count ({self.az_count})"
            )
        return self


class AuroraSettings(_Model):
    """The Aurora PostgreSQL Serverless v2 cluster."""

    engine_version: str = Field("16.9", description="Aurora PostgreSQL engine version.")
    min_capacity: float = Field(0.5, ge=0, le=256, description="Minimum ACU (0 allows auto-pause).")
    max_capacity: float = Field(4, ge=1, le=256, description="Maximum ACU.")
    backup_retention_days: int = Field(7, ge=7, le=35, description="Automated backup retention, 7-35 days.")
    readers: int = Field(0, ge=0, le=3, description="Serverless v2 readers besides the writer (fail-over).")
    deletion_protection: bool = Field(True, description="Refuse deletion of the cluster.")

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


class BucketSettings(_Model):
    """Lifecycle of the data buckets."""

    cached_expiration_days: int = Field(30, gt=0, description="Objects in `cached` expire after this.")
    noncurrent_version_expiration_days: int = Field(
        90, gt=0, description="Noncurrent versions in versioned buckets expire after this."
    )
    raw_infrequent_access_days: int = Field(
        90, ge=30, description="Objects in `raw` move to Standard-IA after this (at least 30)."
    )




class EnvConfig(_Model):
    """Everything that differs between environments."""

    name: str = Field(description="Environment name; the folder under infra/envs.")
    target: Annotated[Target, Field(strict=False)] = Field(Target.AWS, description="`emulator` deploys to the embedded local AWS.")
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
            raise ValueError("is not an AWS region (for example us-east-1, eu-west-1)")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _HOSTNAME.fullmatch(value):
            raise ValueError("must be a lowercase DNS name such as rocketclub.online")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag_value in value.items():
            if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} is not allowed (1-128 characters, not 'aws:')")
            if len(tag_value) > 256:
                raise ValueError(f"tag {key!r} has a value longer than 256 characters")
        return value

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


def available_envs(envs_dir: Path = ENVS_DIR) -> list[str]:
    return sorted(p.parent.name for p in envs_dir.glob(f"*/{CONFIG_FILE_NAME}"))


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(file)"


def _describe(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "is not a known setting (check the spelling; see infra/config.py for the fields)"
    if error["type"] == "missing":
        return "is required"
    return message


def load_config(env: str, envs_dir: Path = ENVS_DIR) -> EnvConfig:
    """Read and validate `infra/envs/<env>/config.toml`."""
    path = envs_dir / env / CONFIG_FILE_NAME
    shown = _shown(path)
    if not re.fullmatch(r"[a-z][a-z0-9]*", env) or not path.is_file():
        known = ", ".join(available_envs(envs_dir)) or "none"
        raise ConfigError(f"unknown environment {env!r}: expected one of {known} (files {CONFIG_FILE_NAME} under {_shown(envs_dir)})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: not valid TOML: {exc}") from None
    if raw.setdefault("name", env) != env:
        raise ConfigError(f"{shown}: name: is {raw['name']!r} but the file lives under {env!r}; make them agree")
    try:
        return EnvConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(first["loc"])
        value = f" (got {first['input']!r})" if first["type"] != "missing" and not isinstance(first["input"], dict) else ""
        raise ConfigError(f"{shown}: {field}: {_describe(first)}{value}") from None


@cache
def _repo_root() -> Path:
    return ENVS_DIR.parent.parent


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(_repo_root()))
    except ValueError:
        return str(path)
