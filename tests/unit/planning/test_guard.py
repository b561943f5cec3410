"""The replacement guard: for every stateful type, a removal and a replacement are refused before
anything runs, naming the resource, unless that resource is explicitly allowed."""

from __future__ import annotations

from typing import Any

import pytest

from blog_infra.errors import CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.operations import refuse_dangerous
from blog_infra.planning import STATEFUL_TYPES, Action, Plan, Replacement, ResourceChange, compute_plan

# For each stateful type: a resource as deployed, the same resource with a property CloudFormation
# can only change by replacing it, and with a property it changes in place.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "AWS::S3::Bucket": (
        {"BucketName": "a"},
        {"BucketName": "b"},
        {"BucketName": "a", "Tags": [{"Key": "k", "Value": "v"}]},
    ),
    "AWS::RDS::DBCluster": (
        {"Engine": "aurora-postgresql", "StorageEncrypted": True, "KmsKeyId": "k1"},
        {"Engine": "aurora-postgresql", "StorageEncrypted": True, "KmsKeyId": "k2"},
        {
            "Engine": "aurora-postgresql",
            "StorageEncrypted": True,
            "KmsKeyId": "k1",
            "DeletionProtection": True,
        },
    ),
    "AWS::RDS::DBInstance": (
        {"DBInstanceClass": "db.t4g.micro", "DBName": "a"},
        {"DBInstanceClass": "db.t4g.micro", "DBName": "b"},
        {"DBInstanceClass": "db.t4g.small", "DBName": "a"},
    ),
    "AWS::SecretsManager::Secret": ({"Name": "a"}, {"Name": "b"}, {"Name": "a", "Description": "d"}),
    "AWS::ECR::Repository": (
        {"RepositoryName": "a"},
        {"RepositoryName": "b"},
        {"RepositoryName": "a", "ImageTagMutability": "IMMUTABLE"},
    ),
    "AWS::Logs::LogGroup": (
        {"LogGroupName": "a"},
        {"LogGroupName": "b"},
        {"LogGroupName": "a", "RetentionInDays": 30},
    ),
    # A KMS key has no create-only property: it is replaced only when its type changes.
    "AWS::KMS::Key": ({"Description": "a"}, {"Description": "a", "KmsKeyId": "x"}, {"Description": "b"}),
}
RETYPED = {"AWS::KMS::Key": "AWS::KMS::ReplicaKey"}


def resource(type_: str, properties: dict[str, Any], **policies: str) -> dict[str, Any]:
    return {"Type": type_, "Properties": properties, **policies}


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def refused(plan: Plan, allow: tuple[str, ...] = ()) -> str:
    with pytest.raises(CliError) as error:
        refuse_dangerous(plan, allow)
    assert error.value.code is ExitCode.REFUSED
    message = str(error.value)
    assert "\n" not in message and "--allow-replace" in message
    return message


def test_every_stateful_type_has_a_case() -> None:
    assert set(CASES) == set(STATEFUL_TYPES)


@pytest.mark.parametrize("type_", sorted(CASES))
@pytest.mark.parametrize("retained", [False, True], ids=["deleted", "retained"])
def test_removing_a_stateful_resource_is_refused(type_: str, retained: bool) -> None:
    # GIVEN a deployed stateful resource (retained or not) WHEN the code no longer declares it
    old = resource(type_, CASES[type_][0], **({"DeletionPolicy": "Retain"} if retained else {}))
    queue = resource("AWS::SQS::Queue", {})
    plan = compute_plan(template(Data=old, Other=queue), template(Other=queue))
    (change,) = plan.dangerous
    assert (change.logical_id, change.action, change.retained) == ("Data", Action.REMOVE, retained)
    # THEN the guard refuses, naming it
    assert f"Data ({type_}, remove)" in refused(plan)


@pytest.mark.parametrize("type_", sorted(CASES))
def test_replacing_a_stateful_resource_is_refused(type_: str) -> None:
    before, replacing, _ = CASES[type_]
    new = resource(RETYPED.get(type_, type_), replacing)
    plan = compute_plan(template(Data=resource(type_, before)), template(Data=new))
    (change,) = plan.dangerous
    assert change.replacement is Replacement.YES
    assert f"Data ({type_}, modify, replacement yes)" in refused(plan)


@pytest.mark.parametrize("type_", sorted(CASES))
def test_an_allowed_replacement_or_removal_goes_through(type_: str) -> None:
    before, replacing, _ = CASES[type_]
    replaced = compute_plan(
        template(Data=resource(type_, before)), template(Data=resource(RETYPED.get(type_, type_), replacing))
    )
    removed = compute_plan(template(Data=resource(type_, before)), template())
    for plan in (replaced, removed):
        assert plan.dangerous
        refuse_dangerous(plan, ["Data"])


@pytest.mark.parametrize("type_", sorted(CASES))
def test_an_in_place_change_of_a_stateful_resource_is_not_refused(type_: str) -> None:
    before, _, in_place = CASES[type_]
    plan = compute_plan(template(Data=resource(type_, before)), template(Data=resource(type_, in_place)))
    (change,) = plan.changes
    assert change.action is Action.MODIFY and change.replacement is Replacement.NO
    assert not plan.dangerous
    refuse_dangerous(plan, [])


def test_a_replacement_that_cascades_to_a_stateful_resource_is_refused() -> None:
    group = resource("AWS::RDS::DBSubnetGroup", {"DBSubnetGroupDescription": "a", "DBSubnetGroupName": "a"})
    moved = resource("AWS::RDS::DBSubnetGroup", {"DBSubnetGroupDescription": "a", "DBSubnetGroupName": "b"})
    cluster = resource("AWS::RDS::DBCluster", {"DBSubnetGroupName": {"Ref": "Subnets"}})
    plan = compute_plan(template(Subnets=group, Db=cluster), template(Subnets=moved, Db=cluster))
    assert "Db (AWS::RDS::DBCluster, modify, replacement conditional)" in refused(plan)


def test_only_the_resources_not_allowed_are_named() -> None:
    old = template(A=resource("AWS::S3::Bucket", {"BucketName": "a"}), B=resource("AWS::S3::Bucket", {}))
    plan = compute_plan(old, template(A=resource("AWS::S3::Bucket", {"BucketName": "a2"})))
    message = refused(plan, ("A",))
    assert "B (AWS::S3::Bucket, remove)" in message and "A (" not in message


def test_stateless_replacements_and_removals_pass() -> None:
    queue = resource("AWS::SQS::Queue", {"QueueName": "a"})
    plan = compute_plan(
        template(Q=queue, T=resource("AWS::SNS::Topic", {})),
        template(Q=resource("AWS::SQS::Queue", {"QueueName": "b"})),
    )
    assert {c.action for c in plan.changes} == {Action.MODIFY, Action.REMOVE}
    refuse_dangerous(plan, [])


def test_the_refusal_says_whether_the_plan_the_change_set_or_both_saw_it() -> None:
    # GIVEN a plan that replaces A and removes B, and a change set that replaces A and C, and
    # replaces B conditionally rather than removing it
    plan = Plan(
        changes=(
            ResourceChange("A", "AWS::S3::Bucket", Action.MODIFY, Replacement.YES),
            ResourceChange("B", "AWS::S3::Bucket", Action.REMOVE),
        )
    )
    change_set = (
        ResourceChange("A", "AWS::S3::Bucket", Action.MODIFY, Replacement.YES),
        ResourceChange("B", "AWS::S3::Bucket", Action.MODIFY, Replacement.CONDITIONAL),
        ResourceChange("C", "AWS::KMS::Key", Action.MODIFY, Replacement.YES),
        ResourceChange("D", "AWS::SQS::Queue", Action.MODIFY, Replacement.YES),
    )
    with pytest.raises(CliError) as error:
        refuse_dangerous(plan, (), change_set)
    # THEN each stateful one is named once, with who said so; the queue is not stateful
    assert str(error.value) == (
        "refusing to replace or delete stateful resources: "
        "A (AWS::S3::Bucket, modify, replacement yes) by plan and change set, "
        "B (AWS::S3::Bucket, remove by plan; modify, replacement conditional by change set), "
        "C (AWS::KMS::Key, modify, replacement yes) by change set; "
        "if that is intended, repeat with --allow-replace <logical id> for each"
    )
    assert error.value.code is ExitCode.REFUSED
    # AND what is allowed is allowed whoever saw it
    refuse_dangerous(plan, ("A", "B", "C"), change_set)
