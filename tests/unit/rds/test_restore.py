"""core/rds restore: the restore source becomes the cluster's create-only properties, the replaced
cluster is retained, and the settings that record it are validated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.config import AuroraSettings
from infra.modules.core.rds.construct import ClusterRestore
from tests.unit.rds.test_rds import cluster, database_template


@pytest.fixture(scope="module")
def plain() -> Template:
    return database_template()


@pytest.fixture(scope="module")
def restored() -> Template:
    return database_template(restore=ClusterRestore(snapshot="blog-prod-manual-20250501-120000"))


def test_the_replaced_cluster_is_retained_and_its_instances_are_not(plain: Template) -> None:
    template = plain
    # GIVEN any cluster THEN a replacement keeps the old cluster, and deletes its instances (whose data
    # lives in the cluster volume)
    assert cluster(template)["UpdateReplacePolicy"] == "Retain"
    assert cluster(template)["DeletionPolicy"] == "Snapshot"
    for instance in template.find_resources("AWS::RDS::DBInstance").values():
        assert instance["UpdateReplacePolicy"] == "Delete"


def test_without_restore_the_cluster_has_no_restore_properties(plain: Template) -> None:
    props = cluster(plain)["Properties"]
    assert not {"SnapshotIdentifier", "SourceDBClusterIdentifier", "RestoreType"} & set(props)
    assert props["MasterUsername"] == "blog_admin"


def test_snapshot_restore_sets_the_snapshot_and_inherits_the_master_user(restored: Template) -> None:
    resource = cluster(restored)
    props = resource["Properties"]
    assert props["SnapshotIdentifier"] == "blog-prod-manual-20250501-120000"
    assert "MasterUsername" not in props
    # the rest of the desired state stays: CloudFormation applies it after the restore
    assert props["ManageMasterUserPassword"] is True and props["EnableHttpEndpoint"] is True
    assert props["StorageEncrypted"] is True and props["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey", "Arn"]}
    assert resource["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    ("restore", "expected"),
    [
        (
            ClusterRestore(source_cluster="blog-prod-auroracluster-abc", to_time="2025-05-01T12:00:00Z"),
            {
                "RestoreType": "full-copy",
                "SourceDBClusterIdentifier": "blog-prod-auroracluster-abc",
                "RestoreToTime": "2025-05-01T12:00:00Z",
            },
        ),
        (
            ClusterRestore(source_cluster="blog-prod-auroracluster-abc", latest=True),
            {
                "RestoreType": "full-copy",
                "SourceDBClusterIdentifier": "blog-prod-auroracluster-abc",
                "UseLatestRestorableTime": True,
            },
        ),
    ],
    ids=["to-time", "latest"],
)
def test_point_in_time_restore_properties(restore: ClusterRestore, expected: dict[str, Any]) -> None:
    props = cluster(database_template(restore=restore))["Properties"]
    assert {k: props.get(k) for k in (*expected, "SnapshotIdentifier", "MasterUsername")} == {
        **expected,
        "SnapshotIdentifier": None,
        "MasterUsername": None,
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"snapshot": "s", "source_cluster": "c", "latest": True},
        {"source_cluster": "c"},
        {"source_cluster": "c", "to_time": "2025-05-01T12:00:00Z", "latest": True},
        {"snapshot": "s", "latest": True},
    ],
    ids=["nothing", "both-sources", "no-time", "two-times", "snapshot-with-time"],
)
def test_inconsistent_restore_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ClusterRestore"):
        ClusterRestore(**kwargs)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"restore_snapshot": "s", "restore_source_cluster": "c", "restore_latest": True},
            "exclude each other",
        ),
        ({"restore_source_cluster": "c"}, "needs exactly one of restore_to_time, restore_latest"),
        ({"restore_latest": True}, "need restore_source_cluster"),
        (
            {"restore_source_cluster": "c", "restore_to_time": datetime(2025, 5, 1, 12)},
            "needs its UTC offset",
        ),
        ({"restore_snapshot": ""}, "at least 1 character"),
    ],
    ids=["both", "no-time", "time-without-source", "naive-time", "empty"],
)
def test_restore_settings_are_validated(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuroraSettings.model_validate(values)


def test_restore_settings_accept_one_source() -> None:
    moment = datetime(2025, 5, 1, 12, tzinfo=UTC)
    settings = AuroraSettings.model_validate({"restore_source_cluster": "c", "restore_to_time": moment})
    assert (settings.restore_source_cluster, settings.restore_to_time) == ("c", moment)
    assert AuroraSettings.model_validate({"restore_snapshot": "s"}).restore_snapshot == "s"
