"""apps/ork_processor: `*.ork` uploads trigger an arm64 Lambda with bounded retries and a failure queue."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from infra.modules.apps.ork_processor.construct import (
    PLACEHOLDER_CODE,
    OrkCode,
    OrkProcessor,
    OrkProcessorProps,
)
from infra.modules.apps.ork_processor.placeholder.handler import handler as placeholder_handler
from tests.unit.helpers import new_stack

DATA_SERVICES = ("s3:", "secretsmanager:", "kms:", "sqs:")


class _Inputs:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.design = s3.Bucket(stack, "DesignFiles")
        self.clean = s3.Bucket(stack, "Clean")
        self.artifacts = s3.Bucket(stack, "Artifacts")
        key = kms.Key(stack, "SecretsKey")
        self.neo4j = secretsmanager.Secret(stack, "Neo4j", encryption_key=key)
        self.cloudinary = secretsmanager.Secret(stack, "Cloudinary", encryption_key=key)
        self.role = iam.Role(stack, "OrkRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))

    def props(self, **changes: Any) -> OrkProcessorProps:
        values: dict[str, Any] = {
            "role": self.role,
            "design_files": self.design,
            "clean": self.clean,
            "secrets": (self.neo4j, self.cloudinary),
            "code": OrkCode.published(self.artifacts, "ork-processor/1.4.0.zip", "3HL4kqtJlcpXroDTDmJ"),
        } | changes
        return OrkProcessorProps(**values)


@pytest.fixture(scope="module")
def built() -> tuple[Template, OrkProcessor]:
    inputs = _Inputs(new_stack())
    processor = OrkProcessor(
        inputs.stack,
        "OrkProcessor",
        props=inputs.props(
            environment={"NEO4J_SECRET_ARN": inputs.neo4j.secret_arn},
            clean_prefix="ork/",
            reserved_concurrency=5,
        ),
    )
    return Template.from_stack(inputs.stack), processor


@pytest.fixture(scope="module")
def template(built: tuple[Template, OrkProcessor]) -> Template:
    return built[0]


def _logical(template: Template, type_: str, prefix: str) -> str:
    return next(logical for logical in template.find_resources(type_) if logical.startswith(prefix))


def _function(template: Template) -> tuple[str, Mapping[str, Any]]:
    functions = {
        logical: function
        for logical, function in template.find_resources("AWS::Lambda::Function").items()
        if logical.startswith("OrkProcessorFunction")
    }
    assert len(functions) == 1
    return next(iter(functions.items()))


def _role_statements(template: Template) -> list[dict[str, Any]]:
    role = _logical(template, "AWS::IAM::Role", "OrkRole")
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_ork_uploads_to_design_files_trigger_the_function(template: Template) -> None:
    # GIVEN the processor  THEN the design-files bucket notifies the function of created *.ork objects only
    function, _ = _function(template)
    design = _logical(template, "AWS::S3::Bucket", "DesignFiles")
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {"Ref": design},
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".ork"}]}},
                        "LambdaFunctionArn": {"Fn::GetAtt": [function, "Arn"]},
                    }
                ]
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
            "Principal": "s3.amazonaws.com",
            "SourceAccount": "123456789012",
            "SourceArn": {"Fn::GetAtt": [design, "Arn"]},
        },
    )


def test_function_runtime_size_and_concurrency(template: Template) -> None:
    _, function = _function(template)
    props = function["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == 1024
    assert props["Timeout"] == 120
    assert props["ReservedConcurrentExecutions"] == 5
    assert props["Handler"] == "ork_processor.handler.handler"
    assert props["Role"] == {"Fn::GetAtt": [_logical(template, "AWS::IAM::Role", "OrkRole"), "Arn"]}


def test_failed_events_go_to_the_failure_queue_after_two_retries_within_an_hour(template: Template) -> None:
    function, _ = _function(template)
    queue = _logical(template, "AWS::SQS::Queue", "OrkProcessorFailureQueue")
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": function},
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        },
    )


def test_failure_queue_is_encrypted_tls_only_and_keeps_two_weeks(template: Template) -> None:
    queue = _logical(template, "AWS::SQS::Queue", "OrkProcessorFailureQueue")
    props = template.find_resources("AWS::SQS::Queue")[queue]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            },
        },
    )


def test_log_group_is_pinned_retained_and_used(template: Template) -> None:
    logs = template.find_resources("AWS::Logs::LogGroup")
    assert logs["OrkProcessorLogs"]["Properties"]["RetentionInDays"] == 90
    assert logs["OrkProcessorLogs"]["DeletionPolicy"] == "RetainExceptOnCreate"
    _, function = _function(template)
    assert function["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": "OrkProcessorLogs"}}


def test_environment_holds_settings_and_no_secret_values(template: Template) -> None:
    _, function = _function(template)
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables == {
        "NEO4J_SECRET_ARN": {"Ref": _logical(template, "AWS::SecretsManager::Secret", "Neo4j")},
        "CLEAN_BUCKET": {"Ref": _logical(template, "AWS::S3::Bucket", "Clean")},
        "CLEAN_PREFIX": "ork/",
    }


def test_published_code_is_pinned_to_an_object_version(template: Template) -> None:
    _, function = _function(template)
    assert function["Properties"]["Code"] == {
        "S3Bucket": {"Ref": _logical(template, "AWS::S3::Bucket", "Artifacts")},
        "S3Key": "ork-processor/1.4.0.zip",
        "S3ObjectVersion": "3HL4kqtJlcpXroDTDmJ",
    }


def test_role_reads_only_ork_objects_and_writes_only_under_the_clean_prefix(template: Template) -> None:
    statements = {s.get("Sid"): s for s in _role_statements(template)}
    design = _logical(template, "AWS::S3::Bucket", "DesignFiles")
    clean = _logical(template, "AWS::S3::Bucket", "Clean")
    assert sorted(_actions(statements["ReadDesignFiles"])) == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statements["ReadDesignFiles"]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [design, "Arn"]}, "/*.ork"]]
    }
    assert sorted(_actions(statements["WriteResults"])) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert statements["WriteResults"]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [clean, "Arn"]}, "/ork/*"]]
    }


def test_role_reads_the_given_secrets_and_sends_to_its_queue(template: Template) -> None:
    statements = _role_statements(template)
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    granted = {
        r["Ref"]
        for s in secrets
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    assert granted == {
        _logical(template, "AWS::SecretsManager::Secret", "Neo4j"),
        _logical(template, "AWS::SecretsManager::Secret", "Cloudinary"),
    }
    queue = _logical(template, "AWS::SQS::Queue", "OrkProcessorFailureQueue")
    sends = [s for s in statements if "sqs:SendMessage" in _actions(s)]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": [queue, "Arn"]}]


def test_role_has_no_wildcard_data_permissions(template: Template) -> None:
    # GIVEN every statement on the function's role  THEN no `service:*` action and no data action on "*"
    for statement in _role_statements(template):
        actions = _actions(statement)
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement
        if statement["Resource"] == "*":
            assert not any(a.startswith(DATA_SERVICES) for a in actions), statement


def test_metric_helpers_name_the_function_and_queue_metrics(built: tuple[Template, OrkProcessor]) -> None:
    _, processor = built
    assert (processor.metric_errors().metric_name, processor.metric_errors().namespace) == (
        "Errors",
        "AWS/Lambda",
    )
    assert processor.metric_throttles().metric_name == "Throttles"
    assert processor.metric_dropped_events().metric_name == "AsyncEventsDropped"
    depth = processor.metric_failure_queue_depth()
    assert (depth.metric_name, depth.namespace, depth.statistic) == (
        "ApproximateNumberOfMessagesVisible",
        "AWS/SQS",
        "Maximum",
    )
    assert processor.metric_oldest_failure_age().metric_name == "ApproximateAgeOfOldestMessage"


def test_placeholder_code_is_the_bundled_handler() -> None:
    # GIVEN the local placeholder (and a handler prop meant for published code)
    inputs = _Inputs(new_stack())
    OrkProcessor(
        inputs.stack,
        "OrkProcessor",
        props=inputs.props(code=OrkCode.local_placeholder(), handler="ork_processor.handler.handler"),
    )
    template = Template.from_stack(inputs.stack)
    # THEN the function runs the module's placeholder from a CDK asset
    _, function = _function(template)
    assert function["Properties"]["Handler"] == "handler.handler"
    code = function["Properties"]["Code"]
    assert code["S3Bucket"] == "cdk-hnb659fds-assets-123456789012-us-east-1"
    assert code["S3Key"].endswith(".zip") and "S3ObjectVersion" not in code
    app = App.of(inputs.stack)
    assert isinstance(app, App)
    assembly = app.synth()
    staged = Path(assembly.directory) / f"asset.{code['S3Key'].removesuffix('.zip')}"
    assert (staged / "handler.py").read_text() == (PLACEHOLDER_CODE / "handler.py").read_text()


def test_placeholder_handler_reports_the_design_files_and_processes_nothing() -> None:
    event = {"Records": [{"s3": {"bucket": {"name": "design"}, "object": {"key": "rockets/alpha.ork"}}}]}
    assert placeholder_handler(event, None) == {
        "placeholder": True,
        "processed": 0,
        "design_files": [{"bucket": "design", "key": "rockets/alpha.ork"}],
    }


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ({}, "needs bucket and key"),
        ({"key": "ork-processor.tar.gz", "bucket": True}, "must be the object key of a .zip"),
        ({"key": "a.zip", "bucket": True, "object_version": " "}, "object_version"),
        ({"placeholder": True, "key": "a.zip"}, "takes no bucket"),
    ],
)
def test_ork_code_rejects_incomplete_sources(code: dict[str, Any], message: str) -> None:
    stack = new_stack()
    if code.get("bucket") is True:
        code["bucket"] = s3.Bucket.from_bucket_name(stack, "Artifacts", "artifacts")
    with pytest.raises(ValueError, match=message):
        OrkCode(**code)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"handler": "handler"}, "dotted name"),
        ({"runtime": lambda_.Runtime.NODEJS_22_X}, "must be a Python runtime"),
        ({"environment": {"AWS_REGION": "x"}}, "not starting with a digit or AWS_"),
        ({"environment": {"CLEAN_BUCKET": "x"}}, "set by the module"),
        ({"clean_prefix": "ork"}, "clean_prefix"),
        ({"clean_prefix": "/ork/"}, "clean_prefix"),
        ({"memory_size": 64}, "memory_size"),
        ({"timeout": Duration.minutes(16)}, "timeout"),
        ({"reserved_concurrency": 0}, "reserved_concurrency"),
    ],
)
def test_rejects_invalid_props(changes: dict[str, Any], message: str) -> None:
    inputs = _Inputs(new_stack())
    with pytest.raises(ValueError, match=message):
        OrkProcessor(inputs.stack, "OrkProcessor", props=inputs.props(**changes))


def test_rejects_a_design_files_bucket_of_another_stack() -> None:
    inputs = _Inputs(new_stack())
    app = App.of(inputs.stack)
    assert isinstance(app, App)
    other = Stack(app, "Other")
    foreign = s3.Bucket(other, "Foreign")
    with pytest.raises(ValueError, match="same stack"):
        OrkProcessor(inputs.stack, "OrkProcessor", props=inputs.props(design_files=foreign))


def test_log_group_is_encrypted_with_the_given_key() -> None:
    inputs = _Inputs(new_stack())
    key = kms.Key(inputs.stack, "LogsKey")
    OrkProcessor(inputs.stack, "OrkProcessor", props=inputs.props(log_encryption_key=key))
    group = Template.from_stack(inputs.stack).find_resources("AWS::Logs::LogGroup")["OrkProcessorLogs"]
    assert group["Properties"]["KmsKeyId"] == {
        "Fn::GetAtt": [inputs.stack.resolve(key.node.default_child.logical_id), "Arn"]  # type: ignore[union-attr]
    }


def test_by_default_the_function_reserves_no_concurrency() -> None:
    # GIVEN the processor with the default props WHEN synthesized THEN it reserves nothing
    inputs = _Inputs(new_stack())
    OrkProcessor(inputs.stack, "OrkProcessor", props=inputs.props())
    _, function = _function(Template.from_stack(inputs.stack))
    assert "ReservedConcurrentExecutions" not in function["Properties"]
