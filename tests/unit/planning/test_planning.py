"""The plan: additions, removals, modifications, replacements and the stateful ones among them."""

from __future__ import annotations

from typing import Any

from blog_infra.planning import Action, Replacement, compute_plan


def bucket(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "Properties": {"BucketName": name, **extra},
    }


def template(**resources: Any) -> dict[str, Any]:
    return {"Resources": resources}


def test_nothing_deployed_means_everything_is_added() -> None:
    plan = compute_plan(None, template(Raw=bucket("raw")))
    assert [(c.logical_id, c.action) for c in plan.changes] == [("Raw", Action.ADD)]
    assert not plan.dangerous


def test_identical_templates_make_an_empty_plan() -> None:
    t = template(Raw=bucket("raw"))
    assert compute_plan(t, t).empty


def test_changing_a_mutable_property_modifies_in_place() -> None:
    old = template(Raw=bucket("raw"))
    new = template(Raw=bucket("raw", VersioningConfiguration={"Status": "Enabled"}))
    (change,) = compute_plan(old, new).changes
    assert change.action is Action.MODIFY
    assert change.replacement is Replacement.NO
    assert change.properties == ("VersioningConfiguration",)
    assert not change.dangerous


def test_renaming_a_bucket_replaces_it_and_is_dangerous() -> None:
    plan = compute_plan(template(Raw=bucket("raw")), template(Raw=bucket("raw-2")))
    (change,) = plan.changes
    assert change.replacement is Replacement.YES
    assert change.dangerous
    assert plan.counts()["dangerous"] == 1


def test_a_new_logical_id_deletes_the_old_resource() -> None:
    plan = compute_plan(template(Raw=bucket("raw")), template(RawRenamed=bucket("raw")))
    actions = {c.logical_id: c.action for c in plan.changes}
    assert actions == {"Raw": Action.REMOVE, "RawRenamed": Action.ADD}
    (danger,) = plan.dangerous
    assert danger.logical_id == "Raw" and danger.retained


def test_turning_on_encryption_with_a_new_key_replaces_the_cluster() -> None:
    cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql"}}
    encrypted = {
        "Type": "AWS::RDS::DBCluster",
        "Properties": {"Engine": "aurora-postgresql", "StorageEncrypted": True},
    }
    (change,) = compute_plan(template(Db=cluster), template(Db=encrypted)).changes
    assert change.replacement is Replacement.YES and change.dangerous


def test_replacement_cascades_to_resources_that_refer_to_it_immutably() -> None:
    group = {
        "Type": "AWS::RDS::DBSubnetGroup",
        "Properties": {"DBSubnetGroupDescription": "a", "DBSubnetGroupName": "a"},
    }
    moved = {
        "Type": "AWS::RDS::DBSubnetGroup",
        "Properties": {"DBSubnetGroupDescription": "a", "DBSubnetGroupName": "b"},
    }
    cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {"DBSubnetGroupName": {"Ref": "Subnets"}}}
    plan = compute_plan(template(Subnets=group, Db=cluster), template(Subnets=moved, Db=cluster))
    changes = {c.logical_id: c for c in plan.changes}
    assert changes["Subnets"].replacement is Replacement.YES
    assert changes["Db"].replacement is Replacement.CONDITIONAL
    assert changes["Db"].dangerous


def test_stateless_replacements_are_not_dangerous() -> None:
    old = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "a"}}
    new = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "b"}}
    (change,) = compute_plan(template(Q=old), template(Q=new)).changes
    assert change.replacement is Replacement.YES and not change.dangerous


def test_output_changes_alone_make_a_non_empty_plan() -> None:
    old = template(Raw=bucket("raw")) | {"Outputs": {"A": {"Value": "1"}}}
    new = template(Raw=bucket("raw")) | {"Outputs": {"A": {"Value": "2"}}}
    plan = compute_plan(old, new)
    assert not plan.changes and plan.outputs_changed == ("A",) and not plan.empty


def test_plan_serialises_with_summary() -> None:
    data = compute_plan(template(Raw=bucket("raw")), template(Raw=bucket("x"))).to_json()
    assert data["summary"] == {"add": 0, "modify": 1, "remove": 0, "replace": 1, "dangerous": 1}
    assert data["changes"][0]["logical_id"] == "Raw" and data["changes"][0]["dangerous"] is True
