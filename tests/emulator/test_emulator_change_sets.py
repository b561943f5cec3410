"""Change sets describe each resource change as CloudFormation's DescribeChangeSet does: the action,
Replacement True / Conditional / False from the resource schemas, the changed properties as details,
and the changes in pages."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.emulator_testlib import create_stack, delete_stack, template


def queue_name(name: str) -> dict[str, Any]:
    return {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}


def parameter(name: Any, value: Any) -> dict[str, Any]:
    return {"Type": "AWS::SSM::Parameter", "Properties": {"Name": name, "Type": "String", "Value": value}}


def body(queue: str, delay: int, *, gone: bool) -> str:
    resources: dict[str, Any] = {
        # QueueName is create-only: renaming replaces the queue
        "Queue": queue_name(queue),
        # Name is create-only and takes the queue's name: this parameter may be replaced in turn ...
        "Named": parameter(
            {"Fn::Join": ["", ["/engine-cs/", {"Fn::GetAtt": ["Queue", "QueueName"]}]]}, "named"
        ),
        # ... and so may this one, which takes the name of that parameter
        "Follower": parameter({"Fn::Sub": "/engine-cs/follower${Named}"}, "follower"),
        # Value is updated in place: a reference to the queue there is a modification, not a replacement
        "Pointer": parameter("/engine-cs/pointer", {"Ref": "Queue"}),
        "Delayed": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": delay}},
        "Unrelated": {"Type": "AWS::SNS::Topic"},
    }
    if gone:
        resources["Kept"] = {"Type": "AWS::SNS::Topic", "DeletionPolicy": "Retain"}
    else:
        resources["Added"] = {"Type": "AWS::SNS::Topic"}
    return template(resources)


def described(cfn: Any, stack: str, name: str) -> dict[str, dict[str, Any]]:
    changes = cfn.describe_change_set(StackName=stack, ChangeSetName=name)["Changes"]
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in changes}


def detail(name: str, recreation: str, evaluation: str, source: str, entity: str | None = None) -> Any:
    result: dict[str, Any] = {
        "Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation},
        "Evaluation": evaluation,
        "ChangeSource": source,
    }
    if entity:
        result["CausingEntity"] = entity
    return result


def test_a_replacement_and_what_follows_from_it(cfn: Any) -> None:
    # GIVEN a deployed stack
    create_stack(cfn, "engine-cs", body("engine-cs-a", 0, gone=True))
    # WHEN a change set renames the queue, changes a mutable property, adds and removes a resource
    cfn.create_change_set(
        StackName="engine-cs",
        ChangeSetName="rename",
        ChangeSetType="UPDATE",
        TemplateBody=body("engine-cs-b", 5, gone=False),
    )
    changes = described(cfn, "engine-cs", "rename")
    # THEN each resource is described as CloudFormation describes it
    assert set(changes) == {"Queue", "Named", "Follower", "Pointer", "Delayed", "Added", "Kept"}
    queue = changes["Queue"]
    assert (queue["Action"], queue["Replacement"], queue["Scope"], queue["PolicyAction"]) == (
        "Modify",
        "True",
        ["Properties"],
        "ReplaceAndDelete",
    )
    assert queue["Details"] == [detail("QueueName", "Always", "Static", "DirectModification")]
    assert queue["PhysicalResourceId"]
    # a create-only property that refers to the replaced queue: replaced only if its value changes
    assert changes["Named"]["Replacement"] == "Conditional"
    assert changes["Named"]["Details"] == [
        detail("Name", "Always", "Dynamic", "ResourceAttribute", "Queue.QueueName")
    ]
    # which goes on to the resources that refer to that one immutably
    assert changes["Follower"]["Replacement"] == "Conditional"
    assert changes["Follower"]["Details"] == [
        detail("Name", "Always", "Dynamic", "ResourceReference", "Named")
    ]
    # a mutable property that refers to it: updated in place
    assert changes["Pointer"]["Replacement"] == "False"
    assert changes["Pointer"]["Details"] == [
        detail("Value", "Never", "Dynamic", "ResourceReference", "Queue")
    ]
    assert "PolicyAction" not in changes["Pointer"]
    assert changes["Delayed"]["Replacement"] == "False"
    assert changes["Delayed"]["Details"] == [detail("DelaySeconds", "Never", "Static", "DirectModification")]
    assert {k: changes["Added"].get(k) for k in ("Action", "Replacement", "Details")} == {
        "Action": "Add",
        "Replacement": None,
        "Details": None,
    }
    assert (changes["Kept"]["Action"], changes["Kept"]["PolicyAction"]) == ("Remove", "Retain")
    # AND executing it does what it described
    cfn.execute_change_set(StackName="engine-cs", ChangeSetName="rename")
    resources = cfn.describe_stack_resources(StackName="engine-cs")["StackResources"]
    assert {r["LogicalResourceId"] for r in resources} == set(changes) - {"Kept"} | {"Unrelated"}
    delete_stack(cfn, "engine-cs")


def test_a_changed_parameter_is_a_static_change(cfn: Any) -> None:
    named = template(
        {"Queue": queue_name({"Ref": "Name"})},  # type: ignore[arg-type]
        Parameters={"Name": {"Type": "String"}},
    )
    create_stack(cfn, "engine-cs-param", named, Parameters=[{"ParameterKey": "Name", "ParameterValue": "a"}])
    cfn.create_change_set(
        StackName="engine-cs-param",
        ChangeSetName="rename",
        ChangeSetType="UPDATE",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Name", "ParameterValue": "engine-cs-param-b"}],
    )
    (queue,) = described(cfn, "engine-cs-param", "rename").values()
    assert queue["Replacement"] == "True"
    assert queue["Details"] == [detail("QueueName", "Always", "Static", "ParameterReference", "Name")]
    cfn.delete_change_set(StackName="engine-cs-param", ChangeSetName="rename")
    delete_stack(cfn, "engine-cs-param")


def test_the_changes_come_in_pages_of_a_hundred(cfn: Any) -> None:
    topics = {f"Topic{i:03}": {"Type": "AWS::SNS::Topic"} for i in range(250)}
    cfn.create_change_set(
        StackName="engine-cs-pages",
        ChangeSetName="create",
        ChangeSetType="CREATE",
        TemplateBody=template(topics),
    )
    pages = [cfn.describe_change_set(StackName="engine-cs-pages", ChangeSetName="create")]
    while "NextToken" in pages[-1]:
        pages.append(
            cfn.describe_change_set(
                StackName="engine-cs-pages", ChangeSetName="create", NextToken=pages[-1]["NextToken"]
            )
        )
    assert [len(page["Changes"]) for page in pages] == [100, 100, 50]
    seen = [c["ResourceChange"]["LogicalResourceId"] for page in pages for c in page["Changes"]]
    assert sorted(seen) == sorted(topics)
    assert {c["ResourceChange"]["Action"] for page in pages for c in page["Changes"]} == {"Add"}
    with pytest.raises(ClientError) as refused:
        cfn.describe_change_set(StackName="engine-cs-pages", ChangeSetName="create", NextToken="250")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    cfn.delete_change_set(StackName="engine-cs-pages", ChangeSetName="create")
    cfn.delete_stack(StackName="engine-cs-pages")
