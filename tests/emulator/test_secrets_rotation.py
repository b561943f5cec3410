"""The emulator's Secrets Manager rotation: the schedule is recorded, a rotation is refused honestly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import SecretsManagerBackend

from emulator.cfn.secretsmanager import RotationSchedule, install_rotation

REGION = "us-east-1"
FUNCTION = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:blog-local-rotation"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(SecretsManagerBackend, "rotate_secret", SecretsManagerBackend.rotate_secret)
    install_rotation()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def test_a_rotation_schedule_shows_in_describe_secret(secrets: Any) -> None:
    # GIVEN a consumer secret
    arn = secrets.create_secret(Name="blog/local/database/backstage", SecretString='{"password": "p"}')["ARN"]

    # WHEN the template's RotationSchedule is applied
    RotationSchedule.create_from_cloudformation_json(
        "Rotation",
        {
            "Properties": {
                "SecretId": arn,
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {"AutomaticallyAfterDays": 30},
            }
        },
        DEFAULT_ACCOUNT_ID,
        REGION,
    )

    # THEN DescribeSecret reports it as AWS does, with the next rotation one interval away
    described = secrets.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == FUNCTION
    assert described["RotationRules"] == {"AutomaticallyAfterDays": 30}
    days = (described["NextRotationDate"].timestamp() - time.time()) / 86400
    assert 29.9 < days <= 30
    assert "LastRotatedDate" not in described or described["LastRotatedDate"] is None


def test_rotate_secret_through_a_function_is_refused_and_changes_nothing(secrets: Any) -> None:
    # GIVEN a secret with a rotation function
    arn = secrets.create_secret(Name="blog/local/database/prefect", SecretString='{"password": "p"}')["ARN"]
    RotationSchedule._record(
        {"SecretId": arn, "RotationLambdaARN": FUNCTION, "RotationRules": {"AutomaticallyAfterDays": 30}},
        DEFAULT_ACCOUNT_ID,
        REGION,
    )
    before = secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]

    # WHEN it is rotated now
    with pytest.raises(ClientError) as refused:
        secrets.rotate_secret(SecretId=arn)

    # THEN the emulator says why, and the value and its versions are unchanged
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "runs no Lambda code" in refused.value.response["Error"]["Message"]
    assert secrets.describe_secret(SecretId=arn)["VersionIdsToStages"] == before
    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) == {"password": "p"}
