"""`blog-infra db`: manual snapshots of the shared Aurora cluster, and its restore.

A restore changes the desired state, not the live cluster. The restore source is recorded in the
environment's configuration (`[aurora] restore_*`), so the template's AWS::RDS::DBCluster carries
`SnapshotIdentifier`, or `RestoreType` + `SourceDBClusterIdentifier` + `RestoreToTime` /
`UseLatestRestorableTime`; these properties are create-only, so the normal deploy path replaces the
cluster with a restored one. The bootstrap custom resource then rewrites each consumer's secret for the
new cluster (its properties name the cluster), the outputs and the SSM contract follow through their
references, and the old cluster is kept (UpdateReplacePolicy Retain) until someone deletes it. The
source stays recorded: CloudFormation restores only when it creates the cluster, and a template
without it would ask for a new, empty one (AWS::RDS::DBCluster `SnapshotIdentifier`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.exceptions
import click

from blog_infra import operations, render, stacks
from blog_infra.errors import BadInput, CliError, Unavailable
from blog_infra.exit_codes import ExitCode
from blog_infra.options import env_option, json_option
from blog_infra.planning import Plan, Replacement
from blog_infra.target import Target, resolve
from infra import config as config_module
from infra.config import AuroraSettings, ConfigError, EnvConfig, load_config
from infra.stack import cluster_restore

CLUSTER_LOGICAL_ID = "AuroraCluster"
ENGINE = "aurora-postgresql"
POLL_SECONDS = 10.0
DEFAULT_TIMEOUT_S = 3600
RESTORE_FIELDS = ("restore_snapshot", "restore_source_cluster", "restore_to_time", "restore_latest")
RECORD_MARKER = "# Recorded by 'blog-infra db restore'"
ENVS_DIR: Path = config_module.ENVS_DIR
"""Where the environments' configuration files live (the restore records its source there)."""

_SNAPSHOT_NAME = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9])*")
"""RDS snapshot identifiers: a letter first, then letters, digits and single hyphens, no hyphen last."""
_FAILED_SNAPSHOT = {"failed", "error", "deleted", "incompatible-restore"}
_RESTORE_KEY = re.compile(r"\s*restore_[a-z_]+\s*=")
_TABLE_HEADER = re.compile(r"\s*\[")
_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def _code(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def _message(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message", "")) or _code(exc)
    return str(exc)


def _config(env: str) -> EnvConfig:
    try:
        return load_config(env, ENVS_DIR)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None


def config_file(env: str) -> Path:
    return ENVS_DIR / env / config_module.CONFIG_FILE_NAME


def deployed_cluster(target: Target, config: EnvConfig) -> dict[str, Any]:
    """The stack's Aurora cluster as RDS describes it; Unavailable when it is not deployed."""
    if stacks.stack_status(target, config.stack_name) is None:
        raise Unavailable(
            f"stack {config.stack_name} is not deployed on {target.description}: "
            f"deploy it first (blog-infra deploy --env {config.name})"
        )
    missing = Unavailable(
        f"the Aurora cluster ({CLUSTER_LOGICAL_ID}) of {config.stack_name} is not deployed on "
        f"{target.description}"
    )
    try:
        detail = target.client("cloudformation").describe_stack_resource(
            StackName=config.stack_name, LogicalResourceId=CLUSTER_LOGICAL_ID
        )["StackResourceDetail"]
        identifier = str(detail.get("PhysicalResourceId") or "")
        if not identifier:
            raise missing
        clusters = target.client("rds").describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    except _AWS_ERRORS:
        raise missing from None
    if not clusters:
        raise missing
    return dict(clusters[0])


# --- snapshot ------------------------------------------------------------------------------------


def default_snapshot_name(config: EnvConfig, now: datetime) -> str:
    """`blog-<env>-manual-<UTC timestamp>`."""
    return f"{config.stack_name}-manual-{now.astimezone(UTC):%Y%m%d-%H%M%S}"


def check_snapshot_name(name: str) -> str:
    if len(name) > 255 or not _SNAPSHOT_NAME.fullmatch(name):
        raise BadInput(
            f"--name {name!r} is not a valid snapshot identifier: 1-255 letters, digits and single "
            "hyphens, starting with a letter and not ending with a hyphen"
        )
    return name


def wait_for_snapshot(
    rds: Any,
    name: str,
    timeout_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    report: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Poll the snapshot until it is available; CliError when it fails or the timeout passes."""
    started = clock()
    while True:
        try:
            (snapshot,) = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=name)[
                "DBClusterSnapshots"
            ]
        except _AWS_ERRORS as exc:
            raise CliError(f"could not read snapshot {name}: {_message(exc)}") from None
        status = str(snapshot.get("Status", "unknown"))
        elapsed = clock() - started
        if status == "available":
            return dict(snapshot)
        if status in _FAILED_SNAPSHOT:
            raise CliError(f"snapshot {name} ended {status}; see the cluster's events in the RDS console")
        if elapsed >= timeout_s:
            raise CliError(
                f"snapshot {name} is still {status} after {elapsed:.0f} s; RDS goes on creating it: "
                "check it with 'aws rds describe-db-cluster-snapshots "
                f"--db-cluster-snapshot-identifier {name}'"
            )
        report(f"Snapshot {name}: {status}, {snapshot.get('PercentProgress', 0)} % ({elapsed:.0f} s)")
        sleep(POLL_SECONDS)


# --- restore -------------------------------------------------------------------------------------


def find_snapshot(rds: Any, identifier: str, region: str, env: str) -> dict[str, Any]:
    """The cluster snapshot named by identifier or ARN; BadInput when there is none."""
    query: dict[str, str] = {"DBClusterSnapshotIdentifier": identifier}
    if identifier.startswith("rds:"):
        query["SnapshotType"] = "automated"
    try:
        found = rds.describe_db_cluster_snapshots(**query)["DBClusterSnapshots"]
    except botocore.exceptions.ClientError as exc:
        if _code(exc) not in ("DBClusterSnapshotNotFoundFault", "InvalidParameterValue"):
            raise CliError(f"could not read snapshot {identifier}: {_message(exc)}") from None
        found = []
    if not found:
        raise BadInput(
            f"snapshot {identifier} not found in {region}: list the cluster's snapshots with "
            "'aws rds describe-db-cluster-snapshots', or take one with "
            f"'blog-infra db snapshot --env {env}'"
        )
    return dict(found[0])


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def check_snapshot(snapshot: Mapping[str, Any], config: EnvConfig, cluster_id: str) -> None:
    """Refuse a snapshot that this environment's cluster cannot be restored from: another engine,
    another environment's cluster, a version the configured engine cannot take, not available."""
    name = snapshot.get("DBClusterSnapshotIdentifier")
    engine = snapshot.get("Engine")
    if engine != ENGINE:
        raise BadInput(f"snapshot {name} is of engine {engine}, not {ENGINE}: it cannot restore this cluster")
    tags = {t.get("Key"): t.get("Value") for t in snapshot.get("TagList") or []}
    source = str(snapshot.get("DBClusterIdentifier", ""))
    ours = source == cluster_id or (tags.get("environment") == config.name and tags.get("component") == "rds")
    if not ours:
        raise BadInput(
            f"snapshot {name} is of cluster {source}, not of {config.stack_name}'s Aurora cluster "
            f"(its snapshots carry the tags environment={config.name} and component=rds)"
        )
    version = str(snapshot.get("EngineVersion", ""))
    wanted = config.aurora.engine_version
    if _version(version)[:1] != _version(wanted)[:1] or _version(version) > _version(wanted):
        raise BadInput(
            f"snapshot {name} is of {ENGINE} {version}, and the configuration asks for {wanted} "
            f"([aurora] engine_version): a restore keeps the major version and cannot go back to an "
            "older minor one"
        )
    status = snapshot.get("Status")
    if status != "available":
        raise BadInput(f"snapshot {name} is {status}, not available: wait for it, then restore")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its offset, in UTC to the second."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"--to-time {text!r} is not an ISO 8601 time: give e.g. 2025-05-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise BadInput(f"--to-time {text!r} has no UTC offset: give e.g. {text}Z for UTC")
    return moment.astimezone(UTC).replace(microsecond=0)


def check_window(cluster: Mapping[str, Any], moment: datetime | None) -> None:
    """The cluster must have a restorable window, and `moment` (None: the latest) must lie in it."""
    earliest, latest = cluster.get("EarliestRestorableTime"), cluster.get("LatestRestorableTime")
    identifier = cluster.get("DBClusterIdentifier")
    if not isinstance(earliest, datetime) or not isinstance(latest, datetime):
        raise BadInput(
            f"cluster {identifier} has no restorable window (no automated backup yet): "
            "restore from a snapshot instead"
        )
    if moment is not None and not earliest <= moment <= latest:
        raise BadInput(
            f"--to-time {_iso(moment)} is outside the restorable window of cluster {identifier}, "
            f"{_iso(earliest)} to {_iso(latest)}: choose a time inside it"
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restore_fields(
    *, snapshot: str | None = None, source_cluster: str | None = None, to_time: datetime | None = None
) -> dict[str, Any]:
    """The `[aurora] restore_*` settings of one restore (all of them, so that a new restore replaces
    the previous one's)."""
    return {
        "restore_snapshot": snapshot,
        "restore_source_cluster": source_cluster,
        "restore_to_time": to_time,
        "restore_latest": source_cluster is not None and to_time is None,
    }


def recorded(aurora: AuroraSettings) -> dict[str, Any]:
    return {name: getattr(aurora, name) for name in RESTORE_FIELDS}


def with_restore(config: EnvConfig, fields: Mapping[str, Any]) -> EnvConfig:
    """`config` with the restore recorded (validated as the file will be)."""
    try:
        aurora = AuroraSettings.model_validate(config.aurora.model_dump() | dict(fields))
    except ValueError as exc:
        raise BadInput(f"invalid restore: {exc}") from None
    return config.model_copy(update={"aurora": aurora})


def pending_restore(config: EnvConfig, deployed: Mapping[str, Any] | None) -> str | None:
    """Why a restore recorded in the configuration is not deployed yet, or None."""
    restore = cluster_restore(config)
    if restore is None:
        return None
    resource = ((deployed or {}).get("Resources") or {}).get(CLUSTER_LOGICAL_ID) or {}
    live = resource.get("Properties") or {}
    if all(live.get(name) == value for name, value in restore.properties().items()):
        return None
    settings = ", ".join(
        f"{k} = {_toml(v)}" for k, v in recorded(config.aurora).items() if v not in (None, False)
    )
    return (
        f"a restore is already pending for {config.stack_name}: {settings} is recorded in "
        f"{_shown(config_file(config.name))} but not deployed; remove those settings (or deploy them "
        "with 'blog-infra deploy'), then restore again"
    )


def restore_scope(template: Mapping[str, Any]) -> tuple[str, ...]:
    """The logical ids a restore replaces: the cluster and the instances that belong to it."""
    members = [
        logical_id
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") == "AWS::RDS::DBInstance"
        and (resource.get("Properties") or {}).get("DBClusterIdentifier") == {"Ref": CLUSTER_LOGICAL_ID}
    ]
    return (CLUSTER_LOGICAL_ID, *sorted(members))


def check_restore_plan(plan: Plan, scope: Iterable[str]) -> None:
    """The plan must replace the cluster, and replace or delete no other stateful resource."""
    allowed = set(scope)
    cluster = next((c for c in plan.changes if c.logical_id == CLUSTER_LOGICAL_ID), None)
    if cluster is None or cluster.replacement is not Replacement.YES:
        raise CliError("the plan does not replace the Aurora cluster; nothing to restore")
    others = [c for c in plan.dangerous if c.logical_id not in allowed]
    if others:
        names = ", ".join(f"{c.logical_id} ({c.resource_type}, {c.action.value})" for c in others)
        raise CliError(
            f"refusing to restore: the plan would also replace or delete {names}; deploy or revert those "
            "changes first, then restore",
            ExitCode.REFUSED,
        )


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso(value)
    return json.dumps(str(value))


def recorded_text(text: str, fields: Mapping[str, Any], when: datetime) -> str:
    """The configuration file's text with the restore's settings (and only them) in its [aurora]
    table; every other line, comments included, stays as it was."""
    lines = text.splitlines()
    new = [f"{RECORD_MARKER} on {_iso(when)}: keep while the restored cluster lives."] + [
        f"{name} = {_toml(value)}" for name, value in fields.items() if value not in (None, False)
    ]
    start = next((i for i, line in enumerate(lines) if line.strip() == "[aurora]"), None)
    if start is None:
        gap = [""] if lines and lines[-1].strip() else []
        return "\n".join([*lines, *gap, "[aurora]", *new]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _TABLE_HEADER.match(lines[i])), len(lines))
    section = [
        line
        for line in lines[start + 1 : end]
        if not _RESTORE_KEY.match(line) and not line.startswith(RECORD_MARKER)
    ]
    trailing = 0
    while section and not section[-1].strip():
        section.pop()
        trailing += 1
    return "\n".join([*lines[: start + 1], *section, *new, *[""] * trailing, *lines[end:]]) + "\n"


def record(config: EnvConfig, fields: Mapping[str, Any], when: datetime) -> str:
    """Write the restore's settings into the environment's file and check it reads back as intended;
    returns the previous text (to put back should the deploy fail)."""
    path = config_file(config.name)
    previous = path.read_text(encoding="utf-8")
    path.write_text(recorded_text(previous, fields, when), encoding="utf-8")
    try:
        ok = recorded(_config(config.name).aurora) == dict(fields)
    except CliError:
        ok = False
    if not ok:
        path.write_text(previous, encoding="utf-8")
        wanted = "; ".join(f"{k} = {_toml(v)}" for k, v in fields.items() if v not in (None, False))
        raise CliError(f"could not record the restore in {_shown(path)}; add under [aurora]: {wanted}")
    return previous


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ENVS_DIR.resolve().parent.parent))
    except ValueError:
        return str(path)


# --- commands ------------------------------------------------------------------------------------


@click.group("db")
def db_group() -> None:
    """The shared Aurora cluster: manual snapshots, and restore from a snapshot or a point in time."""


@db_group.command("snapshot")
@env_option
@click.option(
    "--name", default=None, metavar="NAME", help="Snapshot identifier [default: blog-ENV-manual-UTC time]."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.IntRange(min=1),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the snapshot to become available.",
)
@json_option
def snapshot_command(env: str, name: str | None, timeout_s: int, as_json: bool) -> None:
    """Take a manual snapshot of the Aurora cluster and wait until it is available.

    Prints the snapshot's identifier (with --json, its details). Manual snapshots are kept until
    deleted, whatever the backup retention. Exits 5 when the cluster is not deployed.

    Example: blog-infra db snapshot --env prod --name before-migration-42
    """
    config = _config(env)
    target = resolve(config)
    cluster = deployed_cluster(target, config)
    identifier = str(cluster["DBClusterIdentifier"])
    name = check_snapshot_name(name or default_snapshot_name(config, datetime.now(UTC)))
    rds = target.client("rds")
    started = time.monotonic()
    try:
        rds.create_db_cluster_snapshot(DBClusterIdentifier=identifier, DBClusterSnapshotIdentifier=name)
    except _AWS_ERRORS as exc:
        if _code(exc) == "DBClusterSnapshotAlreadyExistsFault":
            raise BadInput(f"snapshot {name} already exists: choose another --name") from None
        raise CliError(f"could not snapshot cluster {identifier}: {_message(exc)}") from None
    with render.err_console.status(f"Snapshot {name} of cluster {identifier}: creating...") as status:
        snapshot = wait_for_snapshot(rds, name, timeout_s, report=status.update)
    render.err_console.print(
        f"Snapshot {name} of cluster {identifier} is available ({time.monotonic() - started:.0f} s)."
    )
    if as_json:
        keys = ("DBClusterSnapshotIdentifier", "DBClusterSnapshotArn", "DBClusterIdentifier", "Engine")
        details = {key: snapshot.get(key) for key in (*keys, "EngineVersion", "Status")}
        created = snapshot.get("SnapshotCreateTime")
        details["SnapshotCreateTime"] = _iso(created) if isinstance(created, datetime) else None
        click.echo(json.dumps(details, indent=2))
    else:
        click.echo(name)


@db_group.command("restore")
@env_option
@click.option(
    "--snapshot", "snapshot_id", default=None, metavar="ID", help="Cluster snapshot (identifier or ARN)."
)
@click.option("--to-time", "to_time", default=None, metavar="ISO8601", help="Point in time, with its offset.")
@click.option("--latest", is_flag=True, help="The cluster's latest restorable time.")
@click.option("--yes", is_flag=True, help="Deploy the restore; without it, only show the plan.")
def restore_command(env: str, snapshot_id: str | None, to_time: str | None, latest: bool, yes: bool) -> None:
    """Restore the Aurora cluster from a snapshot or to a point in time, through the deploy path.

    Shows the plan first: the cluster and its instances are replaced by a restored cluster, and
    nothing else stateful may be replaced or deleted. With --yes it records the restore source in
    infra/envs/ENV/config.toml ([aurora] restore_*; commit it: later deploys must keep it) and deploys.
    The consumers' secrets, the outputs and the SSM contract follow the new cluster; the old cluster
    is kept until you delete it. Exits 2 on a bad source, 4 when the plan holds another dangerous change.

    Example: blog-infra db restore --env prod --to-time 2025-05-01T12:00:00Z --yes
    """
    chosen = [
        flag
        for flag, given in (("--snapshot", snapshot_id), ("--to-time", to_time), ("--latest", latest))
        if given
    ]
    if len(chosen) != 1:
        raise click.UsageError(
            f"give exactly one of --snapshot, --to-time, --latest (got {', '.join(chosen) or 'none'})"
        )
    moment = parse_time(to_time) if to_time else None
    config = _config(env)
    target = resolve(config)
    cluster = deployed_cluster(target, config)
    current = str(cluster["DBClusterIdentifier"])
    pending = pending_restore(config, stacks.deployed_template(target, config.stack_name))
    if pending:
        raise BadInput(pending)

    if snapshot_id is not None:
        snapshot = find_snapshot(target.client("rds"), snapshot_id, config.region, config.name)
        check_snapshot(snapshot, config, current)
        fields = restore_fields(snapshot=str(snapshot["DBClusterSnapshotIdentifier"]))
        created = snapshot.get("SnapshotCreateTime")
        source = f"snapshot {fields['restore_snapshot']} of cluster {snapshot.get('DBClusterIdentifier')}" + (
            f", taken {_iso(created)}" if isinstance(created, datetime) else ""
        )
    else:
        check_window(cluster, moment)
        fields = restore_fields(source_cluster=current, to_time=moment)
        when = (
            _iso(moment)
            if moment
            else f"its latest restorable time (now {_iso(cluster['LatestRestorableTime'])})"
        )
        source = f"cluster {current} as of {when}"
    if recorded(config.aurora) == fields:
        raise BadInput(f"the cluster of {config.stack_name} already is the restore of {source}")
    desired = with_restore(config, fields)

    with operations.planned(desired, target, checked=False) as (assembly, plan):
        scope = restore_scope(assembly.template())
    check_restore_plan(plan, scope)
    members = [str(m.get("DBInstanceIdentifier")) for m in cluster.get("DBClusterMembers") or []]
    render.console.print(f"Restore of {config.stack_name}'s Aurora cluster from {source}.", soft_wrap=True)
    render.console.print(render.plan_table(plan))
    render.console.print(render.plan_summary(plan))
    render.console.print(
        f"Replaced: {', '.join(scope)}: a new, restored cluster and instances. The old cluster {current} "
        f"is kept (UpdateReplacePolicy Retain) with its data until you delete it; its instances "
        f"({', '.join(members) or 'none'}) are deleted. No other stateful resource is replaced or deleted. "
        "The consumers' secrets, the outputs and the SSM contract follow the new cluster.",
        soft_wrap=True,
    )
    if not yes:
        render.console.print("Nothing changed. Repeat with --yes to restore.", soft_wrap=True)
        return

    path = config_file(config.name)
    previous = record(config, fields, datetime.now(UTC))
    try:
        operations.deploy(desired, target, allow_replace=scope)
    except CliError:
        path.write_text(previous, encoding="utf-8")
        render.err_console.print(
            f"The restore was not recorded: {_shown(path)} is as it was.", soft_wrap=True
        )
        raise
    restored = deployed_cluster(target, desired)
    new_id, endpoint = restored["DBClusterIdentifier"], restored.get("Endpoint")
    render.console.print(f"Restored: cluster {new_id} ({endpoint}) replaces {current}.", soft_wrap=True)
    settings = ", ".join(f"{k} = {_toml(v)}" for k, v in fields.items() if v not in (None, False))
    render.console.print(
        f"Recorded in {_shown(path)} ({settings}): "
        "commit it, as every later deploy must keep it (one without it would be refused, as it would "
        f"replace the restored cluster). When the old cluster is no longer needed: aws rds "
        f"modify-db-cluster --db-cluster-identifier {current} --no-deletion-protection --apply-immediately; "
        f"aws rds delete-db-cluster --db-cluster-identifier {current} --final-db-snapshot-identifier "
        f"{current}-final",
        soft_wrap=True,
    )
