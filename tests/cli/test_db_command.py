"""`blog-infra db`: the decisions of snapshot and restore that need no deployed platform (the whole
procedure runs on the emulator in tests/integration/test_restore.py)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from blog_infra.commands import db
from blog_infra.errors import BadInput, CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.planning import compute_plan
from infra.config import load_config

LOCAL = load_config("local")
NOW = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
CLUSTER = "blog-local-auroracluster-abc"


def snapshot(**overrides: Any) -> dict[str, Any]:
    return {
        "DBClusterSnapshotIdentifier": "snap",
        "DBClusterIdentifier": CLUSTER,
        "Engine": "aurora-postgresql",
        "EngineVersion": "16.9",
        "Status": "available",
        "TagList": [],
    } | overrides


def test_default_snapshot_name_names_the_environment_and_the_utc_time() -> None:
    name = db.default_snapshot_name(LOCAL, NOW.astimezone(tz=None))
    assert name == "blog-local-manual-20250501-120000"
    assert db.check_snapshot_name(name) == name


@pytest.mark.parametrize("name", ["1abc", "a--b", "a-", "a_b", "", "a" * 256])
def test_invalid_snapshot_names_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="is not a valid snapshot identifier"):
        db.check_snapshot_name(name)


class FakeSnapshots:
    """describe_db_cluster_snapshots answering a sequence of states."""

    def __init__(self, *states: tuple[str, int]) -> None:
        self.states = list(states)

    def describe_db_cluster_snapshots(self, **_: Any) -> dict[str, Any]:
        status, percent = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"DBClusterSnapshots": [snapshot(Status=status, PercentProgress=percent)]}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waiting_reports_progress_until_available() -> None:
    clock = Clock()
    reports: list[str] = []
    rds = FakeSnapshots(("creating", 0), ("creating", 60), ("available", 100))
    result = db.wait_for_snapshot(rds, "snap", 3600, sleep=clock.sleep, clock=clock, report=reports.append)
    assert result["Status"] == "available"
    assert reports == ["Snapshot snap: creating, 0 % (0 s)", "Snapshot snap: creating, 60 % (10 s)"]


def test_waiting_gives_up_after_the_timeout() -> None:
    clock = Clock()
    with pytest.raises(CliError, match="still creating after 30 s; RDS goes on creating it"):
        db.wait_for_snapshot(FakeSnapshots(("creating", 5)), "snap", 30, sleep=clock.sleep, clock=clock)


def test_a_failed_snapshot_fails() -> None:
    clock = Clock()
    with pytest.raises(CliError, match="snapshot snap ended failed"):
        db.wait_for_snapshot(FakeSnapshots(("failed", 0)), "snap", 30, sleep=clock.sleep, clock=clock)


def test_a_snapshot_of_this_cluster_or_of_this_environment_is_accepted() -> None:
    db.check_snapshot(snapshot(), LOCAL, CLUSTER)
    tags = [{"Key": "environment", "Value": "local"}, {"Key": "component", "Value": "rds"}]
    db.check_snapshot(
        snapshot(DBClusterIdentifier="blog-local-auroracluster-old", TagList=tags), LOCAL, CLUSTER
    )
    db.check_snapshot(snapshot(EngineVersion="16.6"), LOCAL, CLUSTER)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Engine": "aurora-mysql"}, "is of engine aurora-mysql, not aurora-postgresql"),
        ({"DBClusterIdentifier": "someone-else"}, "is of cluster someone-else, not of blog-local's"),
        (
            {"DBClusterIdentifier": "other", "TagList": [{"Key": "environment", "Value": "prod"}]},
            "is of cluster other",
        ),
        ({"EngineVersion": "15.4"}, "keeps the major version"),
        ({"EngineVersion": "16.10"}, "cannot go back to an older minor one"),
        ({"Status": "creating"}, "is creating, not available"),
    ],
    ids=["engine", "cluster", "environment", "major", "newer", "not-available"],
)
def test_a_snapshot_the_cluster_cannot_take_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        db.check_snapshot(snapshot(**overrides), LOCAL, CLUSTER)


def test_times_need_an_offset_and_become_utc() -> None:
    assert db.parse_time("2025-05-01T14:00:00+02:00") == NOW
    assert db.parse_time("2025-05-01T12:00:00.75Z") == NOW
    with pytest.raises(BadInput, match="has no UTC offset"):
        db.parse_time("2025-05-01T12:00:00")
    with pytest.raises(BadInput, match="is not an ISO 8601 time"):
        db.parse_time("noon")


def test_the_time_must_lie_in_the_restorable_window() -> None:
    cluster = {
        "DBClusterIdentifier": CLUSTER,
        "EarliestRestorableTime": NOW - timedelta(days=7),
        "LatestRestorableTime": NOW,
    }
    db.check_window(cluster, NOW - timedelta(days=1))
    db.check_window(cluster, None)
    with pytest.raises(BadInput, match=r"outside the restorable window .* 2025-04-24T12:00:00Z to"):
        db.check_window(cluster, NOW + timedelta(minutes=1))
    with pytest.raises(BadInput, match="no restorable window"):
        db.check_window({"DBClusterIdentifier": CLUSTER}, None)


def deployed_with(**props: Any) -> dict[str, Any]:
    return {"Resources": {"AuroraCluster": {"Type": "AWS::RDS::DBCluster", "Properties": props}}}


def test_a_recorded_restore_that_is_not_deployed_is_pending() -> None:
    recorded = db.with_restore(LOCAL, db.restore_fields(snapshot="snap"))
    assert db.pending_restore(LOCAL, deployed_with()) is None
    assert db.pending_restore(recorded, deployed_with(SnapshotIdentifier="snap")) is None
    message = db.pending_restore(recorded, deployed_with(SnapshotIdentifier="older"))
    assert message and 'restore_snapshot = "snap" is recorded in' in message


def test_the_restore_scope_is_the_cluster_and_its_instances() -> None:
    template = {
        "Resources": {
            "AuroraCluster": {"Type": "AWS::RDS::DBCluster"},
            "Writer": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {"DBClusterIdentifier": {"Ref": "AuroraCluster"}},
            },
            "Other": {"Type": "AWS::RDS::DBInstance", "Properties": {"DBClusterIdentifier": "elsewhere"}},
        }
    }
    assert db.restore_scope(template) == ("AuroraCluster", "Writer")


def _template(cluster: dict[str, Any], bucket: str) -> dict[str, Any]:
    return {
        "Resources": {
            "AuroraCluster": {"Type": "AWS::RDS::DBCluster", "Properties": cluster},
            "Writer": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {"DBClusterIdentifier": {"Ref": "AuroraCluster"}},
            },
            "Raw": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}},
        }
    }


def test_a_restore_plan_with_another_dangerous_change_is_refused() -> None:
    deployed = _template({"Engine": "aurora-postgresql"}, "raw")
    restored = _template({"Engine": "aurora-postgresql", "SnapshotIdentifier": "snap"}, "raw")
    db.check_restore_plan(compute_plan(deployed, restored), ("AuroraCluster", "Writer"))
    renamed = _template({"Engine": "aurora-postgresql", "SnapshotIdentifier": "snap"}, "raw-renamed")
    with pytest.raises(CliError, match=r"would also replace or delete Raw \(AWS::S3::Bucket") as refused:
        db.check_restore_plan(compute_plan(deployed, renamed), ("AuroraCluster", "Writer"))
    assert refused.value.code is ExitCode.REFUSED
    with pytest.raises(CliError, match="does not replace the Aurora cluster"):
        db.check_restore_plan(compute_plan(deployed, deployed), ("AuroraCluster", "Writer"))


FILE = """# The embedded local AWS.
target = "emulator"

[aurora]
deletion_protection = false
restore_snapshot = "older"

[buckets]
cached_expiration_days = 7
"""


def test_recording_replaces_the_previous_restore_and_keeps_everything_else() -> None:
    fields = db.restore_fields(source_cluster=CLUSTER, to_time=NOW)
    text = db.recorded_text(FILE, fields, NOW)
    parsed = tomllib.loads(text)
    assert parsed["aurora"] == {
        "deletion_protection": False,
        "restore_source_cluster": CLUSTER,
        "restore_to_time": NOW,
    }
    assert parsed["buckets"] == {"cached_expiration_days": 7}
    assert text.startswith("# The embedded local AWS.\n") and "\n\n[buckets]\n" in text
    assert f"{db.RECORD_MARKER} on 2025-05-01T12:00:00Z" in text
    # recording again leaves a single record
    again = db.recorded_text(text, db.restore_fields(snapshot="snap"), NOW)
    assert again.count(db.RECORD_MARKER) == 1
    assert tomllib.loads(again)["aurora"] == {"deletion_protection": False, "restore_snapshot": "snap"}


def test_recording_adds_the_aurora_table_when_missing() -> None:
    text = db.recorded_text('target = "aws"\n', db.restore_fields(source_cluster=CLUSTER), NOW)
    assert tomllib.loads(text)["aurora"] == {"restore_source_cluster": CLUSTER, "restore_latest": True}
