"""`verify`'s verdict and drift detection, and `secrets`' reading of the template and of values, without
an emulator (the deployed behaviour is in tests/integration/test_ops.py)."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest

from blog_infra.commands.secrets import SecretState, holds_placeholder, secret_specs, validated_value
from blog_infra.errors import BadInput
from blog_infra.exit_codes import ExitCode
from blog_infra.verify import Check, Report, Status, Verifier

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:1:secret:blog/prod/external/neo4j-aura-Ab"
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        "Neo4jAuraSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": "blog/prod/external/neo4j-aura",
                "Description": "Neo4j Aura connection.",
                "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]},
                "GenerateSecretString": {
                    "GenerateStringKey": "password",
                    "SecretStringTemplate": json.dumps({"placeholder": "true", "uri": "", "username": ""}),
                },
            },
        },
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "ReaderPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                            "Resource": {"Ref": "Neo4jAuraSecret"},
                        }
                    ]
                },
                "Roles": [{"Ref": "OrkRole1A2B3C4D"}],
            },
        },
        "OrkRole1A2B3C4D": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "blog-prod-ork-processor"}},
    }
}


def _client_error(code: str, operation: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeClient:
    def __init__(self, **methods: Any) -> None:
        self.__dict__.update(methods)


class FakeAwsTarget:
    endpoint = None
    description = "AWS account 111111111111 in us-east-1"

    def __init__(self, clients: dict[str, FakeClient]) -> None:
        self.clients = clients

    def client(self, service: str) -> Any:
        return self.clients.get(service, FakeClient())


def _cloudformation(drifts: list[dict[str, Any]]) -> FakeClient:
    statuses = iter(
        [
            {"DetectionStatus": "DETECTION_IN_PROGRESS"},
            {"DetectionStatus": "DETECTION_COMPLETE", "StackDriftStatus": "DRIFTED" if drifts else "IN_SYNC"},
        ]
    )
    summaries = [
        {"LogicalResourceId": "Key", "PhysicalResourceId": "key-1", "ResourceStatus": "CREATE_COMPLETE"},
        {
            "LogicalResourceId": "Neo4jAuraSecret",
            "PhysicalResourceId": SECRET_ARN,
            "ResourceStatus": "UPDATE_COMPLETE",
        },
        {"LogicalResourceId": "ReaderPolicy", "PhysicalResourceId": "p", "ResourceStatus": "CREATE_COMPLETE"},
        {
            "LogicalResourceId": "OrkRole1A2B3C4D",
            "PhysicalResourceId": "r",
            "ResourceStatus": "CREATE_COMPLETE",
        },
    ]
    return FakeClient(
        list_stack_resources=lambda **_: {"StackResourceSummaries": summaries},
        detect_stack_drift=lambda **_: {"StackDriftDetectionId": "d-1"},
        describe_stack_drift_detection_status=lambda **_: next(statuses),
        describe_stack_resource_drifts=lambda **_: {"StackResourceDrifts": drifts},
    )


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("blog_infra.verify.DRIFT_POLL_S", 0)


@pytest.mark.usefixtures("no_wait")
def test_verify_on_aws_runs_drift_detection_and_names_missing_resources() -> None:
    # GIVEN a stack where the Logs bucket is gone and CloudFormation reports a modified secret
    drift = {
        "LogicalResourceId": "Neo4jAuraSecret",
        "ResourceType": "AWS::SecretsManager::Secret",
        "StackResourceDriftStatus": "MODIFIED",
        "PropertyDifferences": [{"PropertyPath": "/KmsKeyId"}],
    }
    secrets = FakeClient(
        describe_secret=lambda **_: {"KmsKeyId": "arn:aws:kms:us-east-1:1:key/key-1", "Tags": []}
    )
    target = FakeAwsTarget({"cloudformation": _cloudformation([drift]), "secretsmanager": secrets})
    messages: list[str] = []
    report = Verifier(target, "blog-prod", TEMPLATE, progress=messages.append).run()  # type: ignore[arg-type]
    rows = {(c.check, c.resource): c for c in report.checks}
    # THEN the missing bucket and the drifted secret are drift, the secret's key matches, and it exits 6
    assert rows[("resource exists", "Logs")].status is Status.DRIFT
    assert rows[("drift detection", "blog-prod")].actual == "DRIFTED"
    resource_drift = rows[("resource drift", "Neo4jAuraSecret (AWS::SecretsManager::Secret)")]
    assert resource_drift.actual == "MODIFIED: /KmsKeyId"
    assert rows[("secret", "blog/prod/external/neo4j-aura")].status is Status.PASS
    assert report.exit_code is ExitCode.DRIFT
    assert "Waiting for CloudFormation drift detection..." in messages


@pytest.mark.usefixtures("no_wait")
def test_a_refused_read_is_could_not_check_not_a_pass() -> None:
    def denied(**_: Any) -> Any:
        raise _client_error("AccessDeniedException", "DescribeSecret")

    target = FakeAwsTarget(
        {"cloudformation": _cloudformation([]), "secretsmanager": FakeClient(describe_secret=denied)}
    )
    template = {"Resources": {k: v for k, v in TEMPLATE["Resources"].items() if k != "Logs"}}
    report = Verifier(target, "blog-prod", template).run()  # type: ignore[arg-type]
    secret = next(c for c in report.checks if c.check == "secret")
    assert (secret.status, secret.actual) == (Status.UNAVAILABLE, "no permission (DescribeSecret)")
    assert report.exit_code is ExitCode.UNAVAILABLE and report.verdict == "could not check everything"


@pytest.mark.usefixtures("no_wait")
def test_a_refusal_names_the_action_and_the_caller_on_one_line() -> None:
    # GIVEN DescribeSecret refused with AWS's words to a CI role session
    caller = "arn:aws:sts::123456789012:assumed-role/blog-prod-ci-plan/circleci"
    message = (
        f"User: {caller} is not authorized to perform: secretsmanager:DescribeSecret on resource: "
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:blog/prod/x because no identity-based "
        "policy allows the secretsmanager:DescribeSecret action"
    )

    def denied(**_: Any) -> Any:
        error = {"Error": {"Code": "AccessDeniedException", "Message": message}}
        raise botocore.exceptions.ClientError(error, "DescribeSecret")  # type: ignore[arg-type]

    target = FakeAwsTarget(
        {"cloudformation": _cloudformation([]), "secretsmanager": FakeClient(describe_secret=denied)}
    )
    template = {"Resources": {k: v for k, v in TEMPLATE["Resources"].items() if k != "Logs"}}
    # WHEN verified
    report = Verifier(target, "blog-prod", template).run()  # type: ignore[arg-type]
    # THEN the row, and the report's list of refusals, name the IAM action, the operation and the caller
    line = f"no permission: secretsmanager:DescribeSecret (DescribeSecret) refused to {caller}"
    secret = next(c for c in report.checks if c.check == "secret")
    assert (secret.status, secret.actual) == (Status.UNAVAILABLE, line)
    assert report.refusals() == [line]
    assert report.exit_code is ExitCode.UNAVAILABLE


def test_verdict_precedence() -> None:
    def report(*statuses: Status) -> Report:
        return Report("s", "t", [Check("c", "r", "e", "a", status) for status in statuses])

    assert report(Status.PASS, Status.SKIPPED).exit_code is ExitCode.OK
    assert report(Status.PASS, Status.UNAVAILABLE).exit_code is ExitCode.UNAVAILABLE
    assert report(Status.UNAVAILABLE, Status.DRIFT).exit_code is ExitCode.DRIFT
    assert ExitCode.DRIFT == 6


# --- secrets ------------------------------------------------------------------------------------------


def test_secret_specs_read_keys_and_consumers_from_the_template() -> None:
    (spec,) = secret_specs(TEMPLATE)
    assert spec.name == "blog/prod/external/neo4j-aura"
    assert spec.expected_keys == ("password", "uri", "username")
    assert spec.consumers == ("role blog-prod-ork-processor",)


def test_placeholder_is_read_without_giving_the_value_away() -> None:
    value = json.dumps({"placeholder": "true", "password": "generated-throwaway"})
    client = FakeClient(get_secret_value=lambda **_: {"SecretString": value})
    assert holds_placeholder(client, "arn") == "yes"
    real = FakeClient(get_secret_value=lambda **_: {"SecretString": json.dumps({"password": "x"})})
    assert holds_placeholder(real, "arn") == "no"

    def denied(**_: Any) -> Any:
        raise _client_error("AccessDeniedException", "GetSecretValue")

    assert holds_placeholder(FakeClient(get_secret_value=denied), "arn") == "unknown (no read access)"


def test_a_value_needs_exactly_the_expected_keys_and_loses_the_placeholder() -> None:
    (spec,) = secret_specs(TEMPLATE)
    stored = validated_value(
        spec, '{"uri": "neo4j+s://db", "username": "neo4j", "password": "pw", "placeholder": "true"}'
    )
    assert json.loads(stored) == {"password": "pw", "uri": "neo4j+s://db", "username": "neo4j"}
    for raw, message in (
        ("not json at all", "is not JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"uri": "u", "username": "n", "password": ""}', "empty or not a string: password"),
        ('{"uri": "u", "username": "n", "password": "p", "extra": "hidden-value"}', "unknown extra"),
    ):
        with pytest.raises(BadInput, match=message) as caught:
            validated_value(spec, raw)
        assert "hidden-value" not in str(caught.value)


def _portal_template(injected: tuple[str, ...]) -> dict[str, Any]:
    secret = {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {
            "Name": "blog/prod/apps/backstage",
            "GenerateSecretString": {
                "GenerateStringKey": "backend_secret",
                "SecretStringTemplate": json.dumps(
                    {"placeholder": "true", "github_token": "", "auth_github_client_id": ""}
                ),
            },
        },
    }
    container = {
        "Name": "backstage",
        "Secrets": [
            {
                "Name": key.upper(),
                "ValueFrom": {"Fn::Join": ["", [{"Ref": "BackstageAppSecret"}, f":{key}::"]]},
            }
            for key in injected
        ],
    }
    task = {"Type": "AWS::ECS::TaskDefinition", "Properties": {"ContainerDefinitions": [container]}}
    return {"Resources": {"BackstageAppSecret": secret, "Task": task}}


def test_a_placeholder_whose_empty_keys_reach_a_task_is_flagged() -> None:
    # GIVEN the portal's task injecting the placeholder's empty GitHub token
    (spec,) = secret_specs(_portal_template(("backend_secret", "github_token")))
    # THEN status says the task receives an empty value while the placeholder is in place
    assert spec.injected_keys == ("backend_secret", "github_token")
    assert spec.empty_in_tasks == ("github_token",)
    assert SecretState(spec, "arn", "yes", "-").breaks_tasks
    assert SecretState(spec, "arn", "yes", "-").to_json()["empty_in_tasks"] == ["github_token"]
    assert not SecretState(spec, "arn", "no", "-").breaks_tasks


def test_keys_held_back_until_a_setting_is_on_are_named_with_the_setting() -> None:
    # GIVEN the portal's task receiving only the generated key (github_secrets off)
    (spec,) = secret_specs(_portal_template(("backend_secret",)))
    # THEN nothing empty reaches it, and setting the secret points at the setting that delivers the rest
    assert spec.empty_in_tasks == ()
    assert not SecretState(spec, "arn", "yes", "-").breaks_tasks
    assert spec.waiting_for_setting == ("backstage.github_secrets", "auth_github_client_id, github_token")
    (on,) = secret_specs(_portal_template(("backend_secret", "auth_github_client_id", "github_token")))
    assert on.waiting_for_setting is None


def test_a_fresh_prod_platform_gives_no_container_an_empty_value(prod_template: Any) -> None:
    # GIVEN prod as synthesized WHEN its secrets still hold their placeholders
    specs = secret_specs(prod_template.to_json())
    # THEN no container receives one of their empty values
    assert {spec.name: spec.empty_in_tasks for spec in specs if spec.empty_in_tasks} == {}
    # AND the portal's app secret is among the secrets read (the check has something to look at)
    assert any(spec.injected_keys == ("backend_secret",) for spec in specs)
