"""`blog-infra secrets`: which secrets still hold placeholders, and setting their values safely.

The secrets are those the synthesized template defines (`AWS::SecretsManager::Secret`) plus the
Aurora master secret that RDS manages. A secret created with a placeholder carries the JSON key
`"placeholder": "true"` until an operator sets its real value; reading that needs the secret's value,
which this module reads only to look for that key and never prints, logs or returns.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import click
from rich.table import Table

from blog_infra import render, stacks
from blog_infra.errors import BadInput, CliError, Unavailable
from blog_infra.options import config_for, env_option, json_option
from blog_infra.synthesis import synth
from blog_infra.target import Target, resolve
from infra.config import EnvConfig
from infra.modules.apps import backstage

PLACEHOLDER_KEY = "placeholder"
MASTER_SECRET_ATTRIBUTE = "MasterUserSecret.SecretArn"
NO_READ_ACCESS = "unknown (no read access)"
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")
_DENIED = {"AccessDenied", "AccessDeniedException"}
_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
DELIVERY_SETTINGS = {backstage.APP_SECRET_LOGICAL_ID: backstage.GITHUB_SECRETS_SETTING}
"""Secrets some of whose keys reach their task only once a setting is turned on, and that setting."""


@dataclass(frozen=True)
class SecretSpec:
    """A secret as the template defines it."""

    logical_id: str
    name: str
    description: str
    expected_keys: tuple[str, ...]
    """JSON keys of the real value, for secrets created with a placeholder; empty otherwise."""
    consumers: tuple[str, ...]
    managed_by_rds: bool = False
    injected_keys: tuple[str, ...] = ()
    """JSON keys that ECS injects into a task definition's container (`secrets` with a JSON key)."""
    empty_at_creation: tuple[str, ...] = ()
    """JSON keys the secret is created with as empty strings (its placeholder's)."""
    rotation_days: int | None = None
    """Days between rotations when the template gives the secret a rotation schedule."""

    @property
    def has_placeholder(self) -> bool:
        return bool(self.expected_keys)

    @property
    def empty_in_tasks(self) -> tuple[str, ...]:
        """Keys a container receives as empty variables while the placeholder is in place."""
        return tuple(sorted(set(self.injected_keys) & set(self.empty_at_creation)))

    @property
    def waiting_for_setting(self) -> tuple[str, str] | None:
        """(setting, keys) when some keys reach their task only once a setting is on, and it is off."""
        setting = DELIVERY_SETTINGS.get(self.logical_id)
        waiting = [key for key in self.empty_at_creation if key not in self.injected_keys]
        return (setting, ", ".join(waiting)) if setting and waiting else None


@dataclass(frozen=True)
class SecretState:
    spec: SecretSpec
    arn: str | None
    placeholder: str
    """`yes`, `no`, `no (generated)`, `no (managed by RDS)`, `unknown (no read access)` or `missing`."""
    last_changed: str
    last_rotated: str = "-"
    next_rotation: str = "-"
    rotation: str = "-"
    """`every N days`, `managed by RDS`, `off`, or `-` when unknown."""

    @property
    def breaks_tasks(self) -> bool:
        """Tasks receive empty values from it: the placeholder is in place and its empty keys are injected."""
        return self.placeholder == "yes" and bool(self.spec.empty_in_tasks)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "arn": self.arn,
            "description": self.spec.description,
            "placeholder": self.placeholder,
            "last_changed": self.last_changed,
            "rotation": self.rotation,
            "last_rotated": self.last_rotated,
            "next_rotation": self.next_rotation,
            "consumers": list(self.spec.consumers),
            "settable": self.spec.has_placeholder,
            "empty_in_tasks": list(self.spec.empty_in_tasks) if self.breaks_tasks else [],
        }


def _references(value: Any) -> set[tuple[str, str]]:
    """(logical id, attribute) pairs `value` refers to; attribute "" for `Ref`."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add((inner, ""))
            elif key == "Fn::GetAtt":
                parts = inner if isinstance(inner, list) else str(inner).split(".", 1)
                found.add((str(parts[0]), str(parts[1]) if len(parts) > 1 else ""))
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def _injected_keys(template: dict[str, Any], logical_id: str) -> tuple[str, ...]:
    """JSON keys of the secret that task definitions' containers receive through ECS `secrets`."""
    keys: set[str] = set()
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        for container in (resource.get("Properties") or {}).get("ContainerDefinitions") or []:
            for secret in container.get("Secrets") or []:
                value_from = secret.get("ValueFrom")
                parts = value_from.get("Fn::Join", [None, []])[1] if isinstance(value_from, dict) else []
                if (
                    len(parts) == 2
                    and parts[0] == {"Ref": logical_id}
                    and isinstance(parts[1], str)
                    and parts[1].strip(":")
                ):
                    keys.add(parts[1].strip(":").split(":")[0])
    return tuple(sorted(keys))


def _readable(logical_id: str) -> str:
    return _HASH_SUFFIX.sub("", logical_id)


def _consumers(template: dict[str, Any], target: tuple[str, str]) -> tuple[str, ...]:
    """Who reads the secret, from the template's wiring: roles granted GetSecretValue on it, task
    definitions that inject it, and the consumer-contract parameters that publish its ARN."""
    resources: dict[str, dict[str, Any]] = template.get("Resources", {})
    found: list[str] = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::IAM::Policy":
            for statement in (props.get("PolicyDocument") or {}).get("Statement", []):
                actions = statement.get("Action")
                actions = actions if isinstance(actions, list) else [actions]
                if "secretsmanager:GetSecretValue" in actions and target in _references(
                    statement.get("Resource")
                ):
                    for role in props.get("Roles") or []:
                        role_id = next(iter(_references(role)), (str(role), ""))[0]
                        role_name = (resources.get(role_id, {}).get("Properties") or {}).get("RoleName")
                        found.append(
                            f"role {role_name if isinstance(role_name, str) else _readable(role_id)}"
                        )
        elif kind == "AWS::ECS::TaskDefinition":
            for container in props.get("ContainerDefinitions") or []:
                if any(target in _references(s.get("ValueFrom")) for s in container.get("Secrets") or []):
                    found.append(f"task {_readable(logical_id)}/{container.get('Name')}")
        elif kind == "AWS::SSM::Parameter" and target in _references(props.get("Value")):
            found.append(f"contract {props.get('Name')}")
    return tuple(dict.fromkeys(found))


def _rotation_days(resources: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Days between rotations of each secret (by logical id) that a RotationSchedule names."""
    days: dict[str, int] = {}
    for resource in resources.values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::SecretsManager::RotationSchedule":
            after = (props.get("RotationRules") or {}).get("AutomaticallyAfterDays")
            for logical_id, _ in _references(props.get("SecretId")):
                if isinstance(after, int):
                    days[logical_id] = after
    return days


def secret_specs(template: dict[str, Any]) -> list[SecretSpec]:
    """Every secret of the template, and the RDS-managed master secret of each cluster."""
    specs = []
    resources: dict[str, dict[str, Any]] = template.get("Resources", {})
    rotations = _rotation_days(resources)
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::SecretsManager::Secret":
            generator = props.get("GenerateSecretString") or {}
            try:
                shape = json.loads(str(generator.get("SecretStringTemplate") or "{}"))
            except json.JSONDecodeError:
                shape = {}
            keys: tuple[str, ...] = ()
            empty: tuple[str, ...] = ()
            if isinstance(shape, dict) and PLACEHOLDER_KEY in shape:
                empty = tuple(sorted(k for k, v in shape.items() if v == ""))
                generated = generator.get("GenerateStringKey")
                keys = tuple(
                    sorted({k for k in shape if k != PLACEHOLDER_KEY} | ({generated} if generated else set()))
                )
            specs.append(
                SecretSpec(
                    logical_id=logical_id,
                    name=str(props.get("Name") or logical_id),
                    description=str(props.get("Description") or ""),
                    expected_keys=keys,
                    consumers=_consumers(template, (logical_id, "")),
                    injected_keys=_injected_keys(template, logical_id),
                    empty_at_creation=empty,
                    rotation_days=rotations.get(logical_id),
                )
            )
        elif resource.get("Type") == "AWS::RDS::DBCluster" and str(props.get("ManageMasterUserPassword")) in (
            "True",
            "true",
        ):
            specs.append(
                SecretSpec(
                    logical_id=logical_id,
                    name=f"RDS master secret of {_readable(logical_id)}",
                    description="Aurora master login, created and rotated by RDS.",
                    expected_keys=(),
                    consumers=_consumers(template, (logical_id, MASTER_SECRET_ATTRIBUTE)),
                    managed_by_rds=True,
                )
            )
    return specs


def _physical_ids(target: Target, stack_name: str) -> dict[str, str]:
    cloudformation = target.client("cloudformation")
    ids: dict[str, str] = {}
    token: str | None = None
    while True:
        page = cloudformation.list_stack_resources(
            StackName=stack_name, **({"NextToken": token} if token else {})
        )
        ids.update(
            {
                s["LogicalResourceId"]: str(s.get("PhysicalResourceId", ""))
                for s in page["StackResourceSummaries"]
            }
        )
        token = page.get("NextToken")
        if not token:
            return ids


def _error_code(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def holds_placeholder(client: Any, secret_id: str) -> str:
    """`yes` or `no` from the value's `placeholder` key; the value itself goes nowhere else."""
    try:
        value = client.get_secret_value(SecretId=secret_id).get("SecretString")
    except _AWS_ERRORS as exc:
        return NO_READ_ACCESS if _error_code(exc) in _DENIED else f"unknown ({_error_code(exc)})"
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        parsed = None
    flagged = isinstance(parsed, dict) and str(parsed.get(PLACEHOLDER_KEY, "")).lower() == "true"
    del value, parsed
    return "yes" if flagged else "no"


def secret_states(target: Target, stack_name: str, specs: list[SecretSpec]) -> Iterator[SecretState]:
    physical = _physical_ids(target, stack_name)
    client = target.client("secretsmanager")
    rds = target.client("rds")
    for spec in specs:
        arn: str | None = physical.get(spec.logical_id) or None
        if spec.managed_by_rds and arn:
            try:
                (cluster,) = rds.describe_db_clusters(DBClusterIdentifier=arn)["DBClusters"]
                arn = (cluster.get("MasterUserSecret") or {}).get("SecretArn")
            except _AWS_ERRORS:
                arn = None
        if not arn:
            yield SecretState(spec, None, "missing", "-")
            continue
        try:
            described = client.describe_secret(SecretId=arn)
        except _AWS_ERRORS as exc:
            code = _error_code(exc)
            yield SecretState(spec, arn, "missing" if "NotFound" in code else f"unknown ({code})", "-")
            continue
        changed = described.get("LastChangedDate") or described.get("CreatedDate")
        last_changed = _date(changed)
        rotation = (
            "managed by RDS"
            if spec.managed_by_rds
            else f"every {described['RotationRules'].get('AutomaticallyAfterDays')} days"
            if described.get("RotationEnabled") and described.get("RotationRules")
            else "off"
        )
        rotated = {
            "last_rotated": _date(described.get("LastRotatedDate")),
            "next_rotation": _date(described.get("NextRotationDate")),
            "rotation": rotation,
        }
        if spec.managed_by_rds:
            placeholder = "no (managed by RDS)"
        elif not spec.has_placeholder:
            placeholder = "no (generated)"
        else:
            placeholder = holds_placeholder(client, arn)
        yield SecretState(spec, arn, placeholder, last_changed, **rotated)


def _date(value: Any) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "-"


def _template(config: EnvConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="blog-infra-secrets-") as directory:
        return synth(config, Path(directory), gates=False).template()


def _deployed_target(env: str) -> tuple[EnvConfig, Target]:
    config = config_for(env)
    target = resolve(config)
    if stacks.stack_status(target, config.stack_name) is None:
        raise Unavailable(f"stack {config.stack_name} is not deployed on {target.description}")
    return config, target


@click.group("secrets")
def secrets_group() -> None:
    """The platform's secrets: which still hold placeholders, and setting their real values."""


@secrets_group.command("status")
@env_option
@json_option
def status_command(env: str, as_json: bool) -> None:
    """Every secret the platform defines: whether it still holds its placeholder, when it last changed,
    how it rotates, when it last rotated and when it next will, and who consumes it. Never prints a
    secret value.

    Looking for the placeholder reads the secret's value (secretsmanager:GetSecretValue); without that
    permission the column says so. Exits 0.

    Example: blog-infra secrets status --env prod
    """
    config, target = _deployed_target(env)
    with render.err_console.status(f"Reading the secrets of {config.stack_name}..."):
        states = list(secret_states(target, config.stack_name, secret_specs(_template(config))))
    if as_json:
        click.echo(json.dumps([state.to_json() for state in states], indent=2))
        return
    table = Table(title=f"Secrets of {config.stack_name} on {target.description}", title_justify="left")
    for column in (
        "Secret",
        "Placeholder",
        "Last changed",
        "Rotation",
        "Last rotated",
        "Next rotation",
        "Consumers",
        "Description",
    ):
        table.add_column(column, overflow="fold")
    for state in states:
        style = "bold red" if state.placeholder in ("yes", "missing") else None
        placeholder = state.placeholder
        if state.breaks_tasks:
            placeholder += f" (tasks receive empty {', '.join(state.spec.empty_in_tasks)})"
        table.add_row(
            state.spec.name,
            placeholder,
            state.last_changed,
            state.rotation,
            state.last_rotated,
            state.next_rotation,
            "\n".join(state.spec.consumers) or "-",
            state.spec.description,
            style=style,
        )
    render.console.print(table)
    broken = [s.spec.name for s in states if s.breaks_tasks]
    if broken:
        render.console.print(
            f"Containers receive empty values from {', '.join(broken)}: set them before their tasks start "
            "again (an empty value can stop the application)."
        )
    pending = [s.spec.name for s in states if s.placeholder == "yes"]
    if pending:
        render.console.print(
            f"{len(pending)} secret(s) still hold placeholders: set them with "
            f"'blog-infra secrets set NAME --env {config.name}' (value on stdin)."
        )


def _read_value(from_env: str | None) -> str:
    if from_env:
        if from_env not in os.environ:
            raise BadInput(f"--from-env {from_env}: that environment variable is not set")
        return os.environ[from_env]
    if sys.stdin.isatty():
        return str(click.prompt("Secret value (JSON, not shown)", hide_input=True, err=True))
    return str(sys.stdin.read())


def validated_value(spec: SecretSpec, raw: str) -> str:
    """The JSON to store: an object with exactly the expected keys, non-empty, without `placeholder`.

    Error messages name keys only, never values.
    """
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise BadInput(
            f"the value for {spec.name} is not JSON: give an object with keys {', '.join(spec.expected_keys)}"
        ) from None
    if not isinstance(value, dict):
        raise BadInput(
            f"the value for {spec.name} must be a JSON object with keys {', '.join(spec.expected_keys)}"
        )
    value.pop(PLACEHOLDER_KEY, None)
    missing = [k for k in spec.expected_keys if k not in value]
    unknown = sorted(k for k in value if k not in spec.expected_keys)
    empty = [
        k
        for k in spec.expected_keys
        if k in value and (not isinstance(value[k], str) or not value[k].strip())
    ]
    if missing or unknown or empty:
        problems = [
            f"missing {', '.join(missing)}" if missing else "",
            f"unknown {', '.join(unknown)}" if unknown else "",
            f"empty or not a string: {', '.join(empty)}" if empty else "",
        ]
        raise BadInput(
            f"the value for {spec.name} needs exactly the keys {', '.join(spec.expected_keys)} "
            f"({'; '.join(p for p in problems if p)})"
        )
    return json.dumps({k: value[k] for k in spec.expected_keys}, sort_keys=True)


def _find(specs: list[SecretSpec], name: str) -> SecretSpec:
    exact = [s for s in specs if s.name == name]
    matches = exact or [s for s in specs if s.name.rsplit("/", 1)[-1] == name]
    if len(matches) != 1:
        settable = ", ".join(s.name for s in specs if s.has_placeholder)
        reason = "is ambiguous" if matches else "is not a secret of the platform"
        raise BadInput(f"{name!r} {reason}; the secrets to set are: {settable}")
    spec = matches[0]
    if not spec.has_placeholder:
        raise BadInput(
            f"{spec.name} is generated by the platform (or managed by RDS) and is not set by hand; "
            "rotate it instead"
        )
    return spec


@secrets_group.command("set")
@click.argument("name")
@env_option
@click.option(
    "--from-env",
    "from_env",
    metavar="VAR",
    default=None,
    help="Read the value from this environment variable instead of stdin.",
)
def set_command(name: str, env: str, from_env: str | None) -> None:
    """Set the real value of a secret created with a placeholder (Neo4j Aura, Cloudinary, Backstage).

    The value is a JSON object with exactly the secret's keys (`secrets status --json` and
    docs/operations.md list them); it is read from stdin, or from the environment variable named by
    --from-env, never from an argument, and it is never echoed. The placeholder key is dropped.
    NAME is the secret's name or its last part (neo4j-aura).

    Example: blog-infra secrets set neo4j-aura --env prod < neo4j.json
    """
    config, target = _deployed_target(env)
    spec = _find(secret_specs(_template(config)), name)
    value = validated_value(spec, _read_value(from_env))
    arn = _physical_ids(target, config.stack_name).get(spec.logical_id)
    if not arn:
        raise Unavailable(f"{spec.name} is not deployed in {config.stack_name} on {target.description}")
    try:
        answer = target.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)
    except _AWS_ERRORS as exc:
        raise CliError(f"could not set {spec.name}: {_error_code(exc)}") from None
    finally:
        del value
    render.console.print(
        f"Set {spec.name} (version {answer.get('VersionId', '?')}); the value is not shown. ECS tasks read "
        "secrets when they start: redeploy the services that consume it "
        "(aws ecs update-service --force-new-deployment)."
    )
    waiting = spec.waiting_for_setting
    if waiting:
        setting, keys = waiting
        section, _, field = setting.partition(".")
        render.console.print(
            f"{keys} reach no task yet: set [{section}] {field} = true in "
            f"infra/envs/{config.name}/config.toml and deploy (blog-infra deploy --env {config.name})."
        )
    sys.stdout.flush()


ROTATE_TIMEOUT = 300.0
_POLL = 5.0


def _find_rotating(specs: list[SecretSpec], name: str) -> SecretSpec:
    rotating = [s for s in specs if s.rotation_days]
    exact = [s for s in rotating if s.name == name]
    matches = exact or [s for s in rotating if s.name.rsplit("/", 1)[-1] == name]
    if len(matches) != 1:
        names = ", ".join(s.name for s in rotating) or "none"
        reason = "is ambiguous" if matches else "is not a secret the platform rotates"
        raise BadInput(f"{name!r} {reason}; the secrets with a rotation schedule are: {names}")
    return matches[0]


def _pending_done(client: Any, arn: str, version: str) -> bool:
    stages = client.describe_secret(SecretId=arn).get("VersionIdsToStages") or {}
    return "AWSCURRENT" in stages.get(version, [])


@secrets_group.command("rotate")
@click.argument("name")
@env_option
@click.option(
    "--timeout",
    type=click.FloatRange(0, 3600),
    default=ROTATE_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the rotation to finish (0: start it and return).",
)
def rotate_command(name: str, env: str, timeout: float) -> None:
    """Rotate a secret now (RotateSecret), then wait until its new version is current.

    For a database consumer login the rotation function moves the secret to the consumer's other
    login with a new password; the login handed out before stays valid until the next rotation, so
    running tasks keep working. NAME is the secret's name or its last part (backstage). Exits 0 once
    the new version is current, 1 when the rotation failed or did not finish in time.

    The local emulator runs no Lambda code and has no PostgreSQL behind its Aurora cluster: it
    refuses the rotation, changes nothing, and this command says so (exit 5).

    Example: blog-infra secrets rotate backstage --env prod
    """
    config, target = _deployed_target(env)
    spec = _find_rotating(secret_specs(_template(config)), name)
    arn = _physical_ids(target, config.stack_name).get(spec.logical_id)
    if not arn:
        raise Unavailable(f"{spec.name} is not deployed in {config.stack_name} on {target.description}")
    client = target.client("secretsmanager")
    try:
        answer = client.rotate_secret(SecretId=arn)
    except _AWS_ERRORS as exc:
        message = exc.response.get("Error", {}).get("Message", "") if hasattr(exc, "response") else ""
        if target.endpoint and "runs no Lambda code" in message:
            raise Unavailable(
                f"{spec.name} was not rotated: {target.description} runs no Lambda code and has no "
                "PostgreSQL behind its Aurora cluster, so no rotation function can run there; it is "
                "unchanged "
                f"and its schedule (every {spec.rotation_days} days) is recorded: blog-infra secrets status "
                f"--env {config.name}"
            ) from None
        raise CliError(f"could not rotate {spec.name}: {_error_code(exc)}: {message}".rstrip(": ")) from None
    version = str(answer.get("VersionId", ""))
    if timeout == 0 or not version:
        render.console.print(f"Rotation of {spec.name} started (version {version or '?'}).")
        return
    deadline = time.monotonic() + timeout
    with render.err_console.status(f"Rotating {spec.name} (version {version})..."):
        while not _pending_done(client, arn, version):
            if time.monotonic() >= deadline:
                raise CliError(
                    f"the rotation of {spec.name} did not finish within {timeout:g} s: its current version "
                    "is unchanged; the rotation function's log group names the failing step "
                    "(the database-login-rotation-errors alarm fires on it)"
                )
            time.sleep(_POLL)
    render.console.print(
        f"Rotated {spec.name}: version {version} is current; the value is not shown. Tasks started "
        "before keep their login, which stays valid until the next rotation."
    )
