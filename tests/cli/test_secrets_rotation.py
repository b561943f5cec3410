"""`blog-infra secrets rotate` and the rotation columns of `secrets status`, against moto's Secrets
Manager (with the emulator's refusal of Lambda rotations) or a Secrets Manager that completes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import SecretsManagerBackend

from blog_infra.cli import main
from blog_infra.commands import secrets as command
from blog_infra.exit_codes import ExitCode
from emulator.cfn.secretsmanager import RotationSchedule, install_rotation
from infra.config import load_config

REGION = "us-east-1"
FUNCTION = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:rotation"
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "DatabaseBackstageSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"Name": "blog/local/database/backstage", "GenerateSecretString": {}},
        },
        "DatabaseBackstageRotation1": {
            "Type": "AWS::SecretsManager::RotationSchedule",
            "Properties": {
                "SecretId": {"Ref": "DatabaseBackstageSecret"},
                "RotationLambdaARN": {"Fn::GetAtt": ["DatabaseRotationFunction", "Arn"]},
                "RotationRules": {"AutomaticallyAfterDays": 30},
            },
        },
        "SecretsNeo4jAura": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"Name": "blog/local/external/neo4j-aura", "GenerateSecretString": {}},
        },
    }
}


@dataclass(frozen=True)
class FakeTarget:
    endpoint: str | None
    secretsmanager: Any

    @property
    def description(self) -> str:
        return "the local emulator at http://x" if self.endpoint else "AWS account 1 in us-east-1"

    def client(self, service: str) -> Any:
        assert service in ("secretsmanager", "rds"), service
        return self.secretsmanager if service == "secretsmanager" else None


@pytest.fixture
def moto_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, str]]]:
    monkeypatch.setattr(SecretsManagerBackend, "rotate_secret", SecretsManagerBackend.rotate_secret)
    install_rotation()
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        arns = {
            "DatabaseBackstageSecret": client.create_secret(
                Name="blog/local/database/backstage", SecretString=json.dumps({"password": "p"})
            )["ARN"],
            "SecretsNeo4jAura": client.create_secret(
                Name="blog/local/external/neo4j-aura", SecretString=json.dumps({"password": "p"})
            )["ARN"],
        }
        RotationSchedule._record(
            {
                "SecretId": arns["DatabaseBackstageSecret"],
                "RotationLambdaARN": FUNCTION,
                "RotationRules": {"AutomaticallyAfterDays": 30},
            },
            DEFAULT_ACCOUNT_ID,
            REGION,
        )
        yield client, arns


def use_target(monkeypatch: pytest.MonkeyPatch, target: FakeTarget, arns: dict[str, str]) -> None:
    config = load_config("local")
    monkeypatch.setattr(command, "_deployed_target", lambda env: (config, target))
    monkeypatch.setattr(command, "_template", lambda config: TEMPLATE)
    monkeypatch.setattr(command, "_physical_ids", lambda target, stack: arns)


def test_the_template_says_which_secrets_rotate_and_how_often() -> None:
    specs = {spec.name: spec.rotation_days for spec in command.secret_specs(TEMPLATE)}
    assert specs == {"blog/local/database/backstage": 30, "blog/local/external/neo4j-aura": None}


def test_on_the_emulator_rotate_says_why_nothing_rotates_and_changes_nothing(
    moto_secrets: tuple[Any, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, arns = moto_secrets
    use_target(monkeypatch, FakeTarget("http://x", client), arns)
    before = client.describe_secret(SecretId=arns["DatabaseBackstageSecret"])["VersionIdsToStages"]

    code = main(["secrets", "rotate", "backstage", "--env", "local"])

    err = " ".join(capsys.readouterr().err.split())
    assert code == ExitCode.UNAVAILABLE
    assert "was not rotated" in err and "runs no Lambda code" in err and "every 30 days" in err
    assert "Traceback" not in err
    assert client.describe_secret(SecretId=arns["DatabaseBackstageSecret"])["VersionIdsToStages"] == before


def test_rotate_refuses_a_secret_without_a_schedule(
    moto_secrets: tuple[Any, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, arns = moto_secrets
    use_target(monkeypatch, FakeTarget("http://x", client), arns)

    code = main(["secrets", "rotate", "neo4j-aura", "--env", "local"])

    err = " ".join(capsys.readouterr().err.split())
    assert code == ExitCode.BAD_INPUT
    assert "is not a secret the platform rotates" in err and "blog/local/database/backstage" in err


class CompletingSecretsManager:
    """A Secrets Manager whose rotation function finishes after `polls` DescribeSecret calls, or never."""

    def __init__(self, polls: int | None) -> None:
        self.polls = polls
        self.calls: list[str] = []

    def rotate_secret(self, *, SecretId: str) -> dict[str, str]:
        self.calls.append(SecretId)
        return {"ARN": SecretId, "VersionId": "v2"}

    def describe_secret(self, *, SecretId: str) -> dict[str, Any]:
        done = self.polls is not None and len(self.calls) > self.polls
        self.calls.append("describe")
        return {
            "VersionIdsToStages": {
                "v1": ["AWSPREVIOUS"] if done else ["AWSCURRENT"],
                "v2": ["AWSCURRENT", "AWSPENDING"] if done else ["AWSPENDING"],
            }
        }


@pytest.mark.parametrize(("polls", "expected"), [(2, ExitCode.OK), (None, ExitCode.FAILED)])
def test_on_aws_rotate_waits_for_the_new_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], polls: int | None, expected: ExitCode
) -> None:
    client = CompletingSecretsManager(polls)
    use_target(monkeypatch, FakeTarget(None, client), {"DatabaseBackstageSecret": "arn:backstage"})
    monkeypatch.setattr(command, "_POLL", 0.01)

    code = main(["secrets", "rotate", "blog/local/database/backstage", "--env", "local", "--timeout", "0.5"])

    captured = capsys.readouterr()
    assert code == expected
    assert client.calls[0] == "arn:backstage"
    if expected == ExitCode.OK:
        assert "Rotated blog/local/database/backstage: version v2 is current" in " ".join(
            captured.out.split()
        )
    else:
        assert "did not finish within 0.5 s" in " ".join(captured.err.split())


def test_status_shows_rotation_schedule_and_dates(
    moto_secrets: tuple[Any, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, arns = moto_secrets
    use_target(monkeypatch, FakeTarget("http://x", client), arns)

    code = main(["secrets", "status", "--env", "local", "--json"])

    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert code == ExitCode.OK
    backstage = rows["blog/local/database/backstage"]
    assert backstage["rotation"] == "every 30 days"
    assert backstage["last_rotated"] == "-" and backstage["next_rotation"] != "-"
    assert rows["blog/local/external/neo4j-aura"]["rotation"] == "off"
