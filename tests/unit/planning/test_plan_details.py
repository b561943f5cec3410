"""The plan's details: what counts as a reference, what a retained resource is, how outputs and
counts are reported."""

from __future__ import annotations

from typing import Any

import pytest

from blog_infra.planning import Action, Replacement, ResourceChange, _references, _retained, compute_plan


def template(**resources: Any) -> dict[str, Any]:
    return {"Resources": resources}


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ({"Ref": "A"}, {"A"}),
        ({"Ref": {"Fn::Sub": "x"}}, set()),
        ({"Fn::GetAtt": ["B", "Arn"]}, {"B"}),
        ({"Fn::GetAtt": "C.Endpoint.Port"}, {"C"}),
        ({"Fn::Sub": "arn:${D}:${E.Arn}/${AWS::Region}"}, {"D", "E", "AWS::Region"}),
        ({"Fn::Sub": ["${F}-${x}", {"x": {"Ref": "G"}}]}, {"F", "x", "G"}),
        ({"Fn::Join": ["", [{"Ref": "H"}, {"Fn::GetAtt": ["I", "Arn"]}]]}, {"H", "I"}),
        ([{"Ref": "J"}, {"K": {"Ref": "L"}}], {"J", "L"}),
        ("plain", set()),
    ],
)
def test_references_are_found_through_every_intrinsic(value: Any, found: set[str]) -> None:
    assert _references(value) == found


@pytest.mark.parametrize(
    ("policy", "retained"),
    [("Retain", True), ("RetainExceptOnCreate", True), ("Snapshot", True), ("Delete", False), (None, False)],
)
def test_retained_means_the_data_survives_removal(policy: str | None, retained: bool) -> None:
    assert _retained({"DeletionPolicy": policy} if policy else {}) is retained


def group(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::RDS::DBSubnetGroup",
        "Properties": {"DBSubnetGroupDescription": "a", "DBSubnetGroupName": name},
    }


@pytest.mark.parametrize(
    "reference",
    [
        {"Fn::GetAtt": ["Subnets", "Name"]},
        {"Fn::Sub": "${Subnets}"},
        {"Fn::Join": ["", [{"Ref": "Subnets"}]]},
    ],
    ids=["getatt", "sub", "nested"],
)
def test_a_replacement_cascades_through_any_reference(reference: dict[str, Any]) -> None:
    cluster = {
        "Type": "AWS::RDS::DBCluster",
        "DeletionPolicy": "Snapshot",
        "Properties": {"DBSubnetGroupName": reference},
    }
    plan = compute_plan(template(Subnets=group("a"), Db=cluster), template(Subnets=group("b"), Db=cluster))
    changes = {c.logical_id: c for c in plan.changes}
    assert changes["Db"] == ResourceChange(
        "Db", "AWS::RDS::DBCluster", Action.MODIFY, Replacement.CONDITIONAL, ("DBSubnetGroupName",), True
    )
    assert changes["Subnets"].replacement is Replacement.YES


def test_a_cascade_goes_on_through_every_level() -> None:
    # GIVEN A <- B <- C, each referring to the previous through an immutable property
    parameter = {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupName": "x"}}
    b = {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupName": {"Ref": "A"}}}
    c = {"Type": "AWS::RDS::DBCluster", "Properties": {"DBSubnetGroupName": {"Ref": "B"}}}
    moved = {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupName": "y"}}
    plan = compute_plan(template(A=parameter, B=b, C=c), template(A=moved, B=b, C=c))
    replacements = {ch.logical_id: ch.replacement for ch in plan.changes}
    assert replacements == {"A": Replacement.YES, "B": Replacement.CONDITIONAL, "C": Replacement.CONDITIONAL}


def test_a_mutable_reference_to_a_replaced_resource_is_an_in_place_modification() -> None:
    # GIVEN a cluster that names a subnet group only in a tag (a property updated in place)
    cluster = {
        "Type": "AWS::RDS::DBCluster",
        "Properties": {"Tags": [{"Key": "k", "Value": {"Ref": "Subnets"}}]},
    }
    # WHEN the group is replaced
    plan = compute_plan(template(Subnets=group("a"), Db=cluster), template(Subnets=group("b"), Db=cluster))
    # THEN the cluster receives the new group's name in place: modified, not replaced, not dangerous
    changes = {c.logical_id: c for c in plan.changes}
    assert changes["Db"] == ResourceChange("Db", "AWS::RDS::DBCluster", Action.MODIFY, properties=("Tags",))
    assert changes["Subnets"].replacement is Replacement.YES
    assert not plan.dangerous


def test_an_in_place_modification_does_not_cascade_further() -> None:
    # GIVEN A replaced, B referring to A mutably, C referring to B immutably
    b = {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "k", "Value": {"Ref": "A"}}]}}
    c = {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupName": {"Ref": "B"}}}
    plan = compute_plan(template(A=group("a"), B=b, C=c), template(A=group("b"), B=b, C=c))
    # THEN B keeps its physical id (an in-place update), so C does not change at all
    assert {ch.logical_id: ch.replacement for ch in plan.changes} == {
        "A": Replacement.YES,
        "B": Replacement.NO,
    }


def test_a_direct_change_and_a_reference_are_both_listed() -> None:
    # GIVEN a cluster whose tags change and whose subnet group (create-only) is replaced
    old_cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {"DBSubnetGroupName": {"Ref": "Subnets"}}}
    new_cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {**old_cluster["Properties"], "Tags": []}}
    plan = compute_plan(
        template(Subnets=group("a"), Db=old_cluster), template(Subnets=group("b"), Db=new_cluster)
    )
    db = {c.logical_id: c for c in plan.changes}["Db"]
    assert (db.replacement, db.properties) == (Replacement.CONDITIONAL, ("DBSubnetGroupName", "Tags"))


def test_a_new_resource_that_refers_to_a_replaced_one_is_added() -> None:
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "k", "Value": {"Ref": "Subnets"}}]}}
    plan = compute_plan(template(Subnets=group("a")), template(Subnets=group("b"), Q=queue))
    assert {c.logical_id: c.action for c in plan.changes} == {"Q": Action.ADD, "Subnets": Action.MODIFY}


def test_a_modification_records_the_changed_properties_and_the_retention() -> None:
    old = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Properties": {"A": 1, "B": 2}}
    new = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Properties": {"B": 3, "C": 4}}
    (change,) = compute_plan(template(X=old), template(X=new)).changes
    assert change == ResourceChange(
        "X", "AWS::S3::Bucket", Action.MODIFY, Replacement.NO, ("A", "B", "C"), True
    )


def test_properties_may_be_absent_on_either_side() -> None:
    bare = {"Type": "AWS::SQS::Queue"}
    (change,) = compute_plan(
        template(Q=bare), template(Q={**bare, "Properties": {"DelaySeconds": 1}})
    ).changes
    assert change.properties == ("DelaySeconds",)
    (change,) = compute_plan(
        template(Q={**bare, "Properties": {"DelaySeconds": 1}}), template(Q=bare)
    ).changes
    assert change.properties == ("DelaySeconds",)
    assert compute_plan(template(Q=bare), template(Q=bare)).empty


def test_an_added_resource_has_its_type() -> None:
    (change,) = compute_plan(template(), template(Q={"Type": "AWS::SQS::Queue"})).changes
    assert change == ResourceChange("Q", "AWS::SQS::Queue", Action.ADD)
    assert compute_plan({"Resources": {}}, {}).empty


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ({"A": {"Value": "1"}}, {"A": {"Value": "1"}}, ()),
        ({"A": {"Value": "1"}}, {}, ("A",)),
        ({}, {"B": {"Value": "1"}}, ("B",)),
        ({"A": {"Value": "1"}, "B": {"Value": "1"}}, {"A": {"Value": "2"}, "B": {"Value": "1"}}, ("A",)),
    ],
    ids=["same", "removed", "added", "one-changed"],
)
def test_output_changes(old: dict[str, Any], new: dict[str, Any], changed: tuple[str, ...]) -> None:
    plan = compute_plan({"Resources": {}, "Outputs": old}, {"Resources": {}, "Outputs": new})
    assert plan.outputs_changed == changed
    assert plan.empty is (not changed)


def test_counts_and_json_add_up_every_change() -> None:
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "a"}}
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "a"}}
    plan = compute_plan(
        {"Resources": {"B1": bucket, "B2": bucket, "Q": queue}, "Outputs": {"O": {"Value": "1"}}},
        {
            "Resources": {"B1": {**bucket, "Properties": {"BucketName": "b"}}, "Q2": queue, "Q3": queue},
            "Outputs": {"O": {"Value": "2"}},
        },
    )
    assert plan.counts() == {"add": 2, "modify": 1, "remove": 2, "replace": 1, "dangerous": 2}
    data = plan.to_json()
    assert set(data) == {"summary", "changes", "outputs_changed"}
    assert data["outputs_changed"] == ["O"]
    by_id = {c["logical_id"]: c for c in data["changes"]}
    assert (by_id["B2"]["stateful"], by_id["B2"]["dangerous"]) == (True, True)
    assert (by_id["Q"]["stateful"], by_id["Q"]["dangerous"]) == (False, False)
    assert set(by_id["B1"]) == {
        "logical_id",
        "resource_type",
        "action",
        "replacement",
        "properties",
        "retained",
        "stateful",
        "dangerous",
    }
