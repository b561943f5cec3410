"""A service principal's role session (emulator.service_credentials): issued by moto's STS, decided by
the role's trust policy in the modes of emulator.iam_enforcement."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from emulator.service_credentials import PATH
from tests.emulator.emulator_testlib import REGION, Emulator

pytestmark = pytest.mark.slow  # roles and sessions on the emulator: about 4 s for the module

Aws = Callable[[str], Any]
ACCOUNT = "123456789012"
ECS_TASKS = "ecs-tasks.amazonaws.com"


def _post(emulator: Emulator, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(emulator.endpoint + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _task_role(iam: Any, service: str = ECS_TASKS) -> str:
    """A role as the platform's task roles are: trusted by a service, for this account's ECS only."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"},
        },
    }
    document = {"Version": "2012-10-17", "Statement": [statement]}
    name = f"task-{uuid.uuid4().hex[:10]}"
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))["Role"]["Arn"])


def _request(role_arn: str, **fields: Any) -> dict[str, Any]:
    return {
        "service": ECS_TASKS,
        "roleArn": role_arn,
        "sessionName": "0123456789abcdef0123456789abcdef",
        "sourceAccount": ACCOUNT,
        "sourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/cluster/0123456789abcdef0123456789abcdef",
    } | fields


def _caller_arn(emulator: Emulator, answer: dict[str, Any]) -> str:
    sts = boto3.client(
        "sts",
        endpoint_url=emulator.endpoint,
        region_name=REGION,
        aws_access_key_id=answer["AccessKeyId"],
        aws_secret_access_key=answer["SecretAccessKey"],
        aws_session_token=answer["SessionToken"],
    )
    return str(sts.get_caller_identity()["Arn"])


def _log_since(emulator: Emulator, offset: int, needle: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        text = emulator.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_a_trusted_service_gets_a_session_that_sts_reports_as_the_assumed_role(
    emulator: Emulator, aws: Aws, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a task role that trusts ECS for this account, and the check enforced
    role_arn = _task_role(aws("iam"))
    set_mode("enforce")
    # WHEN ECS asks for a session of it for 20 minutes
    status, answer = _post(emulator, PATH, _request(role_arn, durationSeconds=1200))
    # THEN it gets credentials of that role session, expiring when asked
    assert status == 200, answer
    role_name = role_arn.rsplit("/", 1)[1]
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/0123456789abcdef0123456789abcdef"
    assert answer["AssumedRoleArn"] == session_arn and answer["RoleArn"] == role_arn
    expires = datetime.strptime(answer["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 1100 < (expires - datetime.now(UTC)).total_seconds() <= 1200
    assert _caller_arn(emulator, answer) == session_arn


def test_enforce_refuses_a_role_that_does_not_trust_the_service_and_names_both(
    emulator: Emulator, aws: Aws, set_mode: Callable[[str], None]
) -> None:
    role_arn = _task_role(aws("iam"), service="lambda.amazonaws.com")
    set_mode("enforce")
    status, answer = _post(emulator, PATH, _request(role_arn))
    assert status == 403
    assert role_arn in answer["error"] and ECS_TASKS in answer["error"]
    assert "AccessKeyId" not in answer


def test_enforce_refuses_another_accounts_source(
    aws: Aws, emulator: Emulator, set_mode: Callable[[str], None]
) -> None:
    """The trust policy's confused-deputy conditions are evaluated with the request's source."""
    role_arn = _task_role(aws("iam"))
    set_mode("enforce")
    status, answer = _post(emulator, PATH, _request(role_arn, sourceAccount="210987654321"))
    assert status == 403, answer


def test_audit_issues_and_logs_the_refusal_without_a_credential(
    emulator: Emulator, aws: Aws, set_mode: Callable[[str], None]
) -> None:
    role_arn = _task_role(aws("iam"), service="lambda.amazonaws.com")
    set_mode("audit")
    offset = emulator.log_path.stat().st_size
    status, answer = _post(emulator, PATH, _request(role_arn))
    assert status == 200 and answer["AccessKeyId"]
    logged = _log_since(emulator, offset, "would refuse")
    assert f"would refuse (audit) sts:AssumeRole of {role_arn} by {ECS_TASKS}" in logged
    assert answer["SecretAccessKey"] not in logged and answer["SessionToken"] not in logged


def test_off_issues_even_for_a_role_that_does_not_trust_the_service(
    emulator: Emulator, aws: Aws, set_mode: Callable[[str], None]
) -> None:
    set_mode("off")
    role_arn = _task_role(aws("iam"), service="lambda.amazonaws.com")
    status, answer = _post(emulator, PATH, _request(role_arn))
    assert status == 200
    assert _caller_arn(emulator, answer).endswith(
        f"/{role_arn.rsplit('/', 1)[1]}/{_request('')['sessionName']}"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"service": "ecs-tasks"}, "service must be a service principal"),
        ({"roleArn": "arn:aws:iam::123456789012:user/someone"}, "roleArn must be a role's ARN"),
        ({"sessionName": "a b"}, "sessionName must match"),
        ({"durationSeconds": 600}, "between 900 and the role's maximum 3600"),
        ({"durationSeconds": 7200}, "between 900 and the role's maximum 3600"),
    ],
)
def test_an_invalid_request_is_refused_with_what_is_wrong(
    emulator: Emulator, aws: Aws, fields: dict[str, Any], message: str
) -> None:
    role_arn = _task_role(aws("iam"))
    status, answer = _post(emulator, PATH, _request(role_arn, **fields))
    assert status == 400 and message in answer["error"]
