"""Restore of the Aurora cluster, end to end on the emulator: snapshot, restore through the deploy path,
then the outputs, the SSM contract and the consumers' secrets point at the new cluster, the old one is
kept, and later deploys keep the restored cluster.

A restore replaces the cluster, which the shared platform of the other integration tests must keep, so
this module deploys a platform of its own (its own emulator and state dir) and records the restore in
a copy of the environments' files, never in the repository's."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blog_infra import operations
from blog_infra.cli import main
from blog_infra.commands import db
from blog_infra.exit_codes import ExitCode
from blog_infra.target import resolve
from emulator import control
from infra.config import ENVS_DIR, load_config
from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration

STACK = "blog-local"
CONSUMERS = ("backstage", "prefect", "pipelines")
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def own_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    state_dir = tmp_path_factory.mktemp("restore-state")
    starting = LocalPlatform(state_dir=state_dir, endpoint="", up_output="")
    try:
        started = time.monotonic()
        up = starting.cli("local", "up")
        TIMINGS["local up (emulator + full deploy)"] = time.monotonic() - started
        status = control.status(state_dir / "emulator")
        assert status.running and status.endpoint
        yield LocalPlatform(state_dir=state_dir, endpoint=status.endpoint, up_output=up.stdout)
    finally:
        control.stop(state_dir / "emulator")
        print("\nrestore timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items()))


@pytest.fixture
def on_platform(
    own_platform: LocalPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalPlatform, Path]]:
    """The CLI in this process, on the module's platform, with the environments' files copied."""
    envs = tmp_path / "envs"
    shutil.copytree(ENVS_DIR, envs)
    monkeypatch.setenv("BLOG_INFRA_STATE_DIR", str(own_platform.state_dir))
    monkeypatch.setattr(db, "ENVS_DIR", envs)
    yield own_platform, envs


def timed(step: str, argv: list[str]) -> int:
    started = time.monotonic()
    code = main(argv)
    TIMINGS[step] = time.monotonic() - started
    return code


def cluster_of_stack(platform: LocalPlatform) -> dict[str, Any]:
    cfn, rds = platform.client("cloudformation"), platform.client("rds")
    physical = cfn.describe_stack_resource(StackName=STACK, LogicalResourceId="AuroraCluster")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    (cluster,) = rds.describe_db_clusters(DBClusterIdentifier=physical)["DBClusters"]
    return dict(cluster)


def outputs(platform: LocalPlatform) -> dict[str, str]:
    (stack,) = platform.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def contract(platform: LocalPlatform, name: str) -> str:
    return str(
        platform.client("ssm").get_parameter(Name=f"/blog/local/database/{name}")["Parameter"]["Value"]
    )


def consumer_secret(platform: LocalPlatform, consumer: str) -> dict[str, Any]:
    value = platform.client("secretsmanager").get_secret_value(SecretId=f"blog/local/database/{consumer}")
    parsed: dict[str, Any] = json.loads(value["SecretString"])
    return parsed


def assert_everything_points_at(platform: LocalPlatform, cluster: dict[str, Any]) -> None:
    endpoint, port = cluster["Endpoint"], cluster["Port"]
    assert outputs(platform)["DatabaseEndpoint"] == endpoint
    assert outputs(platform)["DatabasePort"] == str(port)
    assert contract(platform, "endpoint") == endpoint
    assert contract(platform, "port") == str(port)
    for consumer in CONSUMERS:
        secret = consumer_secret(platform, consumer)
        assert (secret["host"], secret["port"]) == (endpoint, port), consumer
        assert (secret["username"], secret["dbname"], secret["engine"]) == (consumer, consumer, "postgres")
        assert secret["password"]


def writers(platform: LocalPlatform, cluster_id: str) -> list[str]:
    instances = platform.client("rds").describe_db_instances()["DBInstances"]
    return [i["DBInstanceIdentifier"] for i in instances if i.get("DBClusterIdentifier") == cluster_id]


def stack_updated(platform: LocalPlatform) -> Any:
    (stack,) = platform.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    return stack.get("LastUpdatedTime"), stack["StackStatus"]


def test_snapshot_restore_and_point_in_time_restore(
    on_platform: tuple[LocalPlatform, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    platform, envs = on_platform
    config_file = envs / "local" / "config.toml"
    original_config = config_file.read_text(encoding="utf-8")
    # GIVEN the deployed platform, whose consumers' secrets the bootstrap wrote for its cluster
    old = cluster_of_stack(platform)
    old_members = writers(platform, old["DBClusterIdentifier"])
    assert old_members
    assert_everything_points_at(platform, old)

    # WHEN a snapshot is taken THEN its identifier is printed, and it is available
    assert (
        timed("db snapshot", ["db", "snapshot", "--env", "local", "--name", "before-restore"]) == ExitCode.OK
    )
    assert capsys.readouterr().out.strip() == "before-restore"
    (snapshot,) = platform.client("rds").describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier="before-restore"
    )["DBClusterSnapshots"]
    assert (snapshot["Status"], snapshot["DBClusterIdentifier"]) == ("available", old["DBClusterIdentifier"])

    # WHEN the restore is only planned THEN it names the cluster and its writer, and changes nothing
    before = stack_updated(platform)
    plan_argv = ["db", "restore", "--env", "local", "--snapshot", "before-restore"]
    assert timed("db restore (plan only)", plan_argv) == ExitCode.OK
    out = capsys.readouterr().out
    assert "AuroraCluster" in out and old_members[0] in out and "Nothing changed" in out
    assert "No other stateful resource is replaced or deleted" in out
    assert stack_updated(platform) == before
    assert config_file.read_text(encoding="utf-8") == original_config

    # WHEN it is deployed
    assert timed("db restore --snapshot --yes", [*plan_argv, "--yes"]) == ExitCode.OK
    capsys.readouterr()
    # THEN a new cluster replaced the old one, and every consumer of the endpoint follows it
    new = cluster_of_stack(platform)
    assert new["DBClusterIdentifier"] != old["DBClusterIdentifier"]
    assert new["Endpoint"] != old["Endpoint"]
    assert new["MasterUsername"] == snapshot["MasterUsername"] == "blog_admin"
    assert new["StorageEncrypted"] is True and new["HttpEndpointEnabled"] is True
    assert writers(platform, new["DBClusterIdentifier"])
    assert_everything_points_at(platform, new)
    # AND the old cluster is kept, its instances are not
    rds = platform.client("rds")
    assert rds.describe_db_clusters(DBClusterIdentifier=old["DBClusterIdentifier"])["DBClusters"]
    assert writers(platform, old["DBClusterIdentifier"]) == []
    # AND the source is recorded, so that a later deploy keeps the restored cluster
    recorded = config_file.read_text(encoding="utf-8")
    assert 'restore_snapshot = "before-restore"' in recorded
    assert recorded.startswith(original_config.split("[aurora]")[0])
    restored_config = load_config("local", envs)
    target = resolve(restored_config)
    assert operations.plan(restored_config, target).empty
    # AND restoring from the same snapshot again is refused as already done
    assert main(plan_argv) == ExitCode.BAD_INPUT
    assert "already is the restore of snapshot before-restore" in capsys.readouterr().err

    # WHEN the restored cluster is restored to a point in time of its own
    # (a second after the restored cluster's earliest restorable time, its creation: the restore
    # may have taken less than a second)
    created = platform.client("rds").describe_db_clusters(DBClusterIdentifier=new["DBClusterIdentifier"])[
        "DBClusters"
    ][0]
    earliest = created["EarliestRestorableTime"].astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    while datetime.now(UTC) < earliest + timedelta(seconds=1):
        time.sleep(0.2)
    moment = earliest.strftime("%Y-%m-%dT%H:%M:%SZ")
    pitr_argv = ["db", "restore", "--env", "local", "--to-time", moment, "--yes"]
    assert timed("db restore --to-time --yes", pitr_argv) == ExitCode.OK
    capsys.readouterr()
    # THEN that cluster is replaced in turn and kept, and everything follows the newest one
    newest = cluster_of_stack(platform)
    assert newest["DBClusterIdentifier"] not in (new["DBClusterIdentifier"], old["DBClusterIdentifier"])
    assert_everything_points_at(platform, newest)
    kept = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
    assert {old["DBClusterIdentifier"], new["DBClusterIdentifier"]} <= kept
    recorded = config_file.read_text(encoding="utf-8")
    assert f'restore_source_cluster = "{new["DBClusterIdentifier"]}"' in recorded
    assert f"restore_to_time = {moment}" in recorded and "restore_snapshot" not in recorded
    assert operations.plan(load_config("local", envs), target).empty


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--snapshot", "no-such-snapshot"], "snapshot no-such-snapshot not found"),
        (["--to-time", "2001-01-01T00:00:00Z"], "is outside the restorable window of cluster"),
        (["--to-time", "2001-01-01T00:00:00"], "has no UTC offset"),
        (["--to-time", "yesterday"], "is not an ISO 8601 time"),
        (["--snapshot", "x", "--latest"], "give exactly one of --snapshot, --to-time, --latest"),
    ],
    ids=["unknown-snapshot", "outside-window", "no-offset", "not-a-time", "two-sources"],
)
def test_bad_restore_input_is_refused_and_changes_nothing(
    on_platform: tuple[LocalPlatform, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    platform, envs = on_platform
    before = stack_updated(platform), (envs / "local" / "config.toml").read_text(encoding="utf-8")
    assert main(["db", "restore", "--env", "local", *argv, "--yes"]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (stack_updated(platform), (envs / "local" / "config.toml").read_text(encoding="utf-8")) == before


def test_snapshot_of_another_cluster_or_engine_is_refused(
    on_platform: tuple[LocalPlatform, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    platform, _ = on_platform
    rds = platform.client("rds")
    for engine, version, name in (
        ("aurora-mysql", "8.0.mysql_aurora.3.08.0", "mysql"),
        (db.ENGINE, "16.9", "pg"),
    ):
        rds.create_db_cluster(
            DBClusterIdentifier=f"stranger-{name}",
            Engine=engine,
            EngineVersion=version,
            MasterUsername="someone",
            MasterUserPassword="not-a-real-password-1",
        )
        rds.create_db_cluster_snapshot(
            DBClusterIdentifier=f"stranger-{name}", DBClusterSnapshotIdentifier=f"stranger-{name}-snap"
        )
    assert (
        main(["db", "restore", "--env", "local", "--snapshot", "stranger-mysql-snap"]) == ExitCode.BAD_INPUT
    )
    assert "is of engine aurora-mysql, not aurora-postgresql" in capsys.readouterr().err
    assert main(["db", "restore", "--env", "local", "--snapshot", "stranger-pg-snap"]) == ExitCode.BAD_INPUT
    assert "is of cluster stranger-pg, not of blog-local's Aurora cluster" in capsys.readouterr().err


def test_a_pending_restore_is_refused(
    on_platform: tuple[LocalPlatform, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a restore source written into the file but never deployed
    _, envs = on_platform
    config_file = envs / "local" / "config.toml"
    config_file.write_text(
        config_file.read_text(encoding="utf-8").replace(
            "[aurora]\n", '[aurora]\nrestore_snapshot = "never-deployed"\n'
        ),
        encoding="utf-8",
    )
    # WHEN another restore is asked for THEN it is refused, naming the pending one
    assert main(["db", "restore", "--env", "local", "--latest"]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert 'a restore is already pending for blog-local: restore_snapshot = "never-deployed"' in err


def test_snapshot_name_is_checked_and_unique(
    on_platform: tuple[LocalPlatform, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "snapshot", "--env", "local", "--name", "bad--name"]) == ExitCode.BAD_INPUT
    assert "is not a valid snapshot identifier" in capsys.readouterr().err
    assert main(["db", "snapshot", "--env", "local", "--name", "twice"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["db", "snapshot", "--env", "local", "--name", "twice"]) == ExitCode.BAD_INPUT
    assert "snapshot twice already exists" in capsys.readouterr().err


def test_default_snapshot_name_has_the_environment_and_utc_time(
    on_platform: tuple[LocalPlatform, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "snapshot", "--env", "local", "--json"]) == ExitCode.OK
    details = json.loads(capsys.readouterr().out)
    assert details["DBClusterSnapshotIdentifier"].startswith("blog-local-manual-")
    assert details["Status"] == "available" and details["Engine"] == db.ENGINE
