"""Where an environment deploys: the embedded emulator or a real AWS account, checked first."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import botocore.exceptions

from blog_infra import paths
from blog_infra.errors import BadInput, Unavailable
from emulator import control
from infra.config import EnvConfig


@dataclass(frozen=True)
class Target:
    """A checked deployment target: clients and the CDK CLI's environment point at it."""

    config: EnvConfig
    endpoint: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        if self.endpoint:
            return f"the local emulator at {self.endpoint}"
        return f"AWS account {self.config.account_id} in {self.config.region}"

    def ensure_reachable(self, during: str) -> None:
        """After a failure: say so plainly when the cause is that the emulator went away."""
        if self.endpoint and not control.status(paths.emulator_state_dir()).running:
            raise Unavailable(
                f"the local emulator stopped during the {during}; run 'make up' (blog-infra local up) "
                "to start it again and redeploy from scratch"
            )

    def with_session(self, credentials: dict[str, str]) -> Target:
        """This target signed with a role session's credentials (`AccessKeyId`, `SecretAccessKey`,
        `SessionToken`, as STS answers `AssumeRole*`), for clients and the CDK CLI alike."""
        session = {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }
        return replace(self, env={**self.env, **session})

    def emulator_exited(self) -> bool:
        """Whether this target is the local emulator and its process has gone."""
        return bool(self.endpoint) and control.exited(paths.emulator_state_dir())

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of `service` in the environment's region (or `region`) of this target. On the
        emulator it signs with the target's keys, and with `AWS_SESSION_TOKEN` when the environment
        holds a role session's (as `AssumeRole*` returns them: "Using temporary credentials with AWS
        resources", IAM User Guide)."""
        if self.endpoint:
            return boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=region or self.config.region,
                aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=self.env.get("AWS_SESSION_TOKEN"),
            )
        return boto3.client(service, region_name=region or self.config.region)


def resolve(config: EnvConfig) -> Target:
    """The target of `config`, refusing anything but its own, reachable, account."""
    if config.is_emulated:
        status = control.status(paths.emulator_state_dir())
        if not status.running or not status.endpoint:
            raise Unavailable(
                f"the local emulator is not running: start it with 'blog-infra local up' (or 'make up') "
                f"before using --env {config.name}"
            )
        return Target(
            config=config,
            endpoint=status.endpoint,
            env=control.client_environment(status.endpoint, config.region),
        )
    return _aws_target(config)


def _aws_target(config: EnvConfig) -> Target:
    placeholders = config.placeholders()
    if placeholders:
        raise BadInput(
            f"infra/envs/{config.name}/config.toml still holds stand-in values for "
            f"{', '.join(placeholders)}: "
            "set the organisation's real ones before touching AWS"
        )
    session = boto3.Session(region_name=config.region)
    if session.get_credentials() is None:
        raise BadInput(
            f"no AWS credentials found for --env {config.name}: set AWS_PROFILE or web-identity variables "
            f"for account {config.account_id} (or use --env local for the embedded emulator)"
        )
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except botocore.exceptions.NoCredentialsError:
        raise BadInput(f"no usable AWS credentials for --env {config.name}: check AWS_PROFILE") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise Unavailable(f"could not verify the AWS account for --env {config.name}: {exc}") from None
    if account != config.account_id:
        raise BadInput(
            f"refusing to touch account {account}: --env {config.name} deploys only to account "
            f"{config.account_id} (infra/envs/{config.name}/config.toml); switch AWS_PROFILE"
        )
    return Target(config=config, env={"AWS_REGION": config.region, "AWS_DEFAULT_REGION": config.region})
