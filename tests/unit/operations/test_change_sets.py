"""Reading CloudFormation's change set in the plan's terms, every page of it; AWS answers through
botocore's Stubber (the emulator's own change sets are read in tests/integration)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from blog_infra import change_sets
from blog_infra.errors import CliError
from blog_infra.planning import Action, Replacement, ResourceChange

STACK = "blog-test"


def change(logical_id: str, action: str, type_: str = "AWS::S3::Bucket", **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Resource",
        "ResourceChange": {"LogicalResourceId": logical_id, "ResourceType": type_, "Action": action, **extra},
    }


def prop(name: str, recreation: str = "Never", evaluation: str = "Static") -> dict[str, Any]:
    return {
        "Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation},
        "Evaluation": evaluation,
        "ChangeSource": "DirectModification",
    }


class StubTarget:
    def __init__(self) -> None:
        self.cfn = boto3.client(
            "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.stubber = Stubber(self.cfn)

    def client(self, service: str) -> Any:
        assert service == "cloudformation"
        return self.cfn


@pytest.fixture
def target() -> Any:
    stub = StubTarget()
    with stub.stubber:
        yield stub
    stub.stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (change("A", "Add"), ResourceChange("A", "AWS::S3::Bucket", Action.ADD)),
        (
            change("B", "Modify", Replacement="True", Details=[prop("BucketName", "Always")]),
            ResourceChange("B", "AWS::S3::Bucket", Action.MODIFY, Replacement.YES, ("BucketName",)),
        ),
        (
            change(
                "C",
                "Modify",
                Replacement="Conditional",
                Details=[prop("X", "Always", "Dynamic"), prop("X", "Never"), prop("Y")],
            ),
            ResourceChange("C", "AWS::S3::Bucket", Action.MODIFY, Replacement.CONDITIONAL, ("X", "Y")),
        ),
        (
            change("D", "Modify", Replacement="False", Details=[{"Target": {"Attribute": "Metadata"}}]),
            ResourceChange("D", "AWS::S3::Bucket", Action.MODIFY, Replacement.NO),
        ),
        (
            change("E", "Remove", PolicyAction="Retain"),
            ResourceChange("E", "AWS::S3::Bucket", Action.REMOVE, retained=True),
        ),
        (change("F", "Remove", PolicyAction="Delete"), ResourceChange("F", "AWS::S3::Bucket", Action.REMOVE)),
        # an action CloudFormation cannot determine, or a Modify without Replacement, may replace
        (
            change("G", "Dynamic"),
            ResourceChange("G", "AWS::S3::Bucket", Action.MODIFY, Replacement.CONDITIONAL),
        ),
        (
            change("H", "Modify"),
            ResourceChange("H", "AWS::S3::Bucket", Action.MODIFY, Replacement.CONDITIONAL),
        ),
        (change("I", "Import"), ResourceChange("I", "AWS::S3::Bucket", Action.ADD)),
        ({"Type": "HookInvocation"}, None),
    ],
)
def test_a_described_change_in_the_plans_terms(
    entry: dict[str, Any], expected: ResourceChange | None
) -> None:
    assert change_sets.resource_change(entry) == expected


def test_every_page_is_read(target: StubTarget) -> None:
    expected = {"StackName": STACK, "ChangeSetName": "cs"}
    target.stubber.add_response(
        "describe_change_set", {"Status": "CREATE_IN_PROGRESS", "Changes": []}, expected
    )
    target.stubber.add_response(
        "describe_change_set",
        {"Status": "CREATE_COMPLETE", "Changes": [change("A", "Add")], "NextToken": "t1"},
        expected,
    )
    target.stubber.add_response(
        "describe_change_set",
        {"Status": "CREATE_COMPLETE", "Changes": [change("B", "Remove")]},
        {**expected, "NextToken": "t1"},
    )
    result = change_sets.describe(target, STACK, "cs", timeout=10, poll=0)  # type: ignore[arg-type]
    assert [(c.logical_id, c.action) for c in result.changes] == [("A", Action.ADD), ("B", Action.REMOVE)]
    assert (result.status, result.empty) == ("CREATE_COMPLETE", False)


@pytest.mark.parametrize(
    ("reason", "empty"),
    [
        (
            "The submitted information didn't contain changes. Submit different information.",
            True,
        ),
        ("No updates are to be performed.", True),
        ("Template error: unresolved resource dependencies [X]", False),
    ],
)
def test_a_change_set_without_changes(target: StubTarget, reason: str, empty: bool) -> None:
    target.stubber.add_response("describe_change_set", {"Status": "FAILED", "StatusReason": reason})
    assert change_sets.describe(target, STACK, "cs").empty is empty  # type: ignore[arg-type]


def test_an_unreadable_change_set_is_one_line(target: StubTarget) -> None:
    target.stubber.add_client_error(
        "describe_change_set", "ChangeSetNotFound", "ChangeSet [cs] does not exist"
    )
    with pytest.raises(CliError, match=r"^could not read change set cs of blog-test: .*does not exist$"):
        change_sets.describe(target, STACK, "cs")  # type: ignore[arg-type]


def test_a_failed_delete_is_reported_not_raised(target: StubTarget) -> None:
    target.stubber.add_response("delete_change_set", {}, {"StackName": STACK, "ChangeSetName": "cs"})
    assert change_sets.delete(target, STACK, "cs") is None  # type: ignore[arg-type]
    target.stubber.add_client_error("delete_change_set", "InvalidChangeSetStatus", "executing")
    assert "executing" in (change_sets.delete(target, STACK, "cs") or "")  # type: ignore[arg-type]
