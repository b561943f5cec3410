"""core/log_encryption: the retained, rotated KMS key of the platform's CloudWatch log groups."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration, RemovalPolicy
from aws_cdk.assertions import Template

from infra.modules.core.log_encryption.construct import LogEncryption, LogEncryptionProps
from tests.unit.helpers import new_stack


@pytest.fixture(scope="module")
def key() -> dict[str, Any]:
    stack = new_stack()
    LogEncryption(stack, "LogEncryption")
    keys = Template.from_stack(stack).find_resources("AWS::KMS::Key")
    assert list(keys) == ["LogsKey"]
    return keys["LogsKey"]  # type: ignore[no-any-return]


def statements(key: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s.get("Sid", ""): s for s in key["Properties"]["KeyPolicy"]["Statement"]}


def test_the_key_is_pinned_retained_and_rotated(key: dict[str, Any]) -> None:
    assert key["DeletionPolicy"] == "RetainExceptOnCreate" and key["UpdateReplacePolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["PendingWindowInDays"] == 30


def test_only_cloudwatch_logs_of_this_account_and_region_may_use_it(key: dict[str, Any]) -> None:
    logs = statements(key)["CloudWatchLogsOfThisAccount"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert "kms:GenerateDataKey*" in logs["Action"] and "kms:CreateGrant" not in logs["Action"]
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": {
                "Fn::Join": [
                    "",
                    ["arn:", {"Ref": "AWS::Partition"}, ":logs:us-east-1:123456789012:log-group:*"],
                ]
            }
        }
    }


def test_grants_are_left_to_aws_services(key: dict[str, Any]) -> None:
    deny = statements(key)["DenyGrantsExceptForAwsServices"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "kms:CreateGrant"


def test_a_removal_policy_can_be_chosen() -> None:
    stack = new_stack()
    LogEncryption(stack, "LogEncryption", props=LogEncryptionProps(removal_policy=RemovalPolicy.DESTROY))
    key = Template.from_stack(stack).find_resources("AWS::KMS::Key")["LogsKey"]
    assert key["DeletionPolicy"] == "Delete"


@pytest.mark.parametrize("window", [Duration.days(6), Duration.days(31), Duration.hours(200)])
def test_rejects_a_pending_window_outside_7_to_30_days(window: Duration) -> None:
    with pytest.raises(ValueError, match="pending_window"):
        LogEncryption(new_stack(), "LogEncryption", props=LogEncryptionProps(pending_window=window))
