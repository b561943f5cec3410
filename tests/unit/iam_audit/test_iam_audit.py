"""The dead-grant audit sets the emulator's decisions record against the roles' policies: each Allow
statement is used (with its number of calls) or unused, and each refused call is listed once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from blog_infra import iam_audit

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture
def iam() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("iam", region_name="us-east-1")


def test_each_statement_is_used_or_unused_and_refusals_are_listed_once(iam: Any) -> None:
    # GIVEN a role with an inline policy of two Allow statements and a Deny, and a managed policy
    arn = iam.create_role(RoleName="worker", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    inline = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Run", "Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*"},
            {"Effect": "Allow", "Action": ["ecs:StopTask", "ecs:DescribeTasks"], "Resource": "*"},
            {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        ],
    }
    iam.put_role_policy(RoleName="worker", PolicyName="Default", PolicyDocument=json.dumps(inline))
    managed = iam.create_policy(
        PolicyName="Logs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "Write", "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}
                ],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="worker", PolicyArn=managed)
    # AND a record: two calls allowed by Run, one by the managed statement, two identical refusals, and a
    # call of another role
    record = [
        {
            "role": arn,
            "action": "ecs:RunTask",
            "resource": "td",
            "decision": "allow",
            "allowed_by": [f"{arn}/Default#Run"],
        },
        {
            "role": arn,
            "action": "ecs:RunTask",
            "resource": "td",
            "decision": "allow",
            "allowed_by": [f"{arn}/Default#Run"],
        },
        {
            "role": arn,
            "action": "logs:PutLogEvents",
            "resource": "g",
            "decision": "allow",
            "allowed_by": [f"{managed}#Write"],
        },
        {
            "role": arn,
            "action": "kms:Decrypt",
            "resource": "k",
            "decision": "allow",
            "allowed_by": ["key policy#3"],
        },
        {"role": arn, "action": "s3:GetObject", "resource": "b/k", "decision": "implicit deny"},
        {"role": arn, "action": "s3:GetObject", "resource": "b/k", "decision": "implicit deny"},
        {
            "role": "arn:aws:iam::123456789012:role/other",
            "action": "x:Y",
            "resource": "*",
            "decision": "allow",
            "allowed_by": ["P#0"],
        },
    ]
    # WHEN the role is audited
    [audit] = iam_audit.audit(iam, {"Worker": arn}, record)
    # THEN the used statements carry their counts, the position-labelled one is unused, the Deny is no grant
    assert audit.used == {f"{arn}/Default#Run": 2, f"{managed}#Write": 1}
    assert [s.label for s in audit.unused] == [f"{arn}/Default#1"]
    assert audit.unused[0].actions == ("ecs:StopTask", "ecs:DescribeTasks")
    assert audit.refused == ["s3:GetObject on b/k"]
    # AND a call a resource's policy allowed is counted apart: no statement of the role was needed
    assert audit.resource_grants == {"key policy#3": 1}
    assert audit.sessions_seen
    # AND the JSON form says the same
    [entry] = iam_audit.as_json([audit])
    assert entry["statements"] == 3
    assert entry["unused"] == [
        {
            "statement": f"{arn}/Default#1",
            "actions": ["ecs:StopTask", "ecs:DescribeTasks"],
            "resources": ["*"],
        }
    ]


def test_a_role_that_made_no_call_is_marked_so(iam: Any) -> None:
    arn = iam.create_role(RoleName="idle", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    [audit] = iam_audit.audit(iam, {"Idle": arn}, [])
    assert not audit.sessions_seen and audit.used == {} and audit.refused == []
