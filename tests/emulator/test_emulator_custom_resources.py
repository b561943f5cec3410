"""The CDK-provided custom resources that the emulator applies natively: each deploys from a
hand-written template, its effect reads back through the service's own API, and an update and the
deletion do what CDK's handler does. The ``cfn`` and ``aws`` fixtures fail a test whose run left
an HTTP 5xx or a traceback in the emulator's log."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

from tests.emulator.emulator_testlib import (
    Emulator,
    create_stack,
    delete_stack,
    describe,
    outputs,
    template,
    update_stack,
)

Aws = Callable[[str], Any]

ACCOUNT = "123456789012"
SERVICE_TOKEN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:cdk-provided-handler"
ASSUME_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _configurations(s3: Any, bucket: str) -> dict[str, list[dict[str, Any]]]:
    answer = s3.get_bucket_notification_configuration(Bucket=bucket)
    return {key: value for key, value in answer.items() if key.endswith("Configurations") and value}


def _rules(notification: dict[str, Any]) -> dict[str, str]:
    return {r["Name"].lower(): r["Value"] for r in notification["Filter"]["Key"]["FilterRules"]}


def _notifications_template(suffix: str, with_notifications: bool = True) -> str:
    resources: dict[str, Any] = {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": ASSUME_LAMBDA}},
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
            },
        },
        "AllowS3": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["Function", "Arn"]},
                "Principal": "s3.amazonaws.com",
                "SourceAccount": ACCOUNT,
                "SourceArn": {"Fn::GetAtt": ["Bucket", "Arn"]},
            },
        },
    }
    if with_notifications:
        resources["Notifications"] = {
            "Type": "Custom::S3BucketNotifications",
            "DependsOn": ["AllowS3"],
            "Properties": {
                "ServiceToken": SERVICE_TOKEN,
                "BucketName": {"Ref": "Bucket"},
                "NotificationConfiguration": {
                    "LambdaFunctionConfigurations": [
                        {
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
                            "LambdaFunctionArn": {"Fn::GetAtt": ["Function", "Arn"]},
                        }
                    ],
                    "QueueConfigurations": [
                        {
                            "Events": ["s3:ObjectRemoved:*"],
                            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "designs/"}]}},
                            "QueueArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                        }
                    ],
                },
                "Managed": True,
                "SkipDestinationValidation": False,
            },
        }
    return template(
        resources,
        outputs={
            "Bucket": {"Ref": "Bucket"},
            "Function": {"Fn::GetAtt": ["Function", "Arn"]},
            "Queue": {"Ref": "Queue"},
            "QueueArn": {"Fn::GetAtt": ["Queue", "Arn"]},
        },
    )


def test_bucket_notifications_are_put_updated_and_removed(cfn: Any, aws: Aws, emulator: Emulator) -> None:
    out = outputs(create_stack(cfn, "cr-notifications", _notifications_template(".ork")))
    s3, sqs = aws("s3"), aws("sqs")
    bucket = out["Bucket"]
    configurations = _configurations(s3, bucket)
    assert set(configurations) == {"LambdaFunctionConfigurations", "QueueConfigurations"}
    [to_lambda] = configurations["LambdaFunctionConfigurations"]
    assert to_lambda["LambdaFunctionArn"] == out["Function"]
    assert to_lambda["Events"] == ["s3:ObjectCreated:*"]
    assert _rules(to_lambda) == {"suffix": ".ork"}
    [to_queue] = configurations["QueueConfigurations"]
    assert to_queue["QueueArn"] == out["QueueArn"]
    assert _rules(to_queue) == {"prefix": "designs/"}

    # an object that matches the Lambda notification: stored at once, the event logged, not run
    log_offset = emulator.log_path.stat().st_size
    started = time.monotonic()
    s3.put_object(Bucket=bucket, Key="designs/rocket.ork", Body=b"<openrocket/>")
    assert time.monotonic() - started < 5
    assert s3.get_object(Bucket=bucket, Key="designs/rocket.ork")["Body"].read() == b"<openrocket/>"
    log_text = emulator.log_path.read_bytes()[log_offset:].decode("utf-8", errors="replace")
    assert f"not delivered to {out['Function']}" in log_text
    assert "error running docker" not in log_text
    function_name = out["Function"].rsplit(":", 1)[-1]
    assert not aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{function_name}")["logGroups"]

    # notifications to a queue are delivered by moto: S3's test event, then the removal
    s3.delete_object(Bucket=bucket, Key="designs/rocket.ork")
    received = sqs.receive_message(QueueUrl=out["Queue"], MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in received]
    assert any(b.get("Event") == "s3:TestEvent" for b in bodies)
    assert any(r["eventName"] == "ObjectRemoved:Delete" for b in bodies for r in b.get("Records", []))

    update_stack(cfn, "cr-notifications", _notifications_template(".zip"))
    [to_lambda] = _configurations(s3, bucket)["LambdaFunctionConfigurations"]
    assert _rules(to_lambda) == {"suffix": ".zip"}

    # removing the resource (a delete, as in a stack delete) removes the configuration
    update_stack(cfn, "cr-notifications", _notifications_template(".zip", with_notifications=False))
    assert _configurations(s3, bucket) == {}
    delete_stack(cfn, "cr-notifications")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_unmanaged_bucket_notifications_keep_other_notifications(cfn: Any, aws: Aws) -> None:
    s3, sqs = aws("s3"), aws("sqs")
    s3.create_bucket(Bucket="cr-imported-bucket")
    external_queue = sqs.create_queue(QueueName="cr-external")["QueueUrl"]
    external_arn = sqs.get_queue_attributes(QueueUrl=external_queue, AttributeNames=["QueueArn"])
    external_arn = external_arn["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket="cr-imported-bucket",
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "theirs", "QueueArn": external_arn, "Events": ["s3:ObjectCreated:Put"]}
            ]
        },
    )

    def body(prefix: str) -> str:
        return template(
            {
                "Queue": {"Type": "AWS::SQS::Queue"},
                "Notifications": {
                    "Type": "Custom::S3BucketNotifications",
                    "Properties": {
                        "ServiceToken": SERVICE_TOKEN,
                        "BucketName": "cr-imported-bucket",
                        "NotificationConfiguration": {
                            "QueueConfigurations": [
                                {
                                    "Events": ["s3:ObjectCreated:*"],
                                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                                    "QueueArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                                }
                            ]
                        },
                        "Managed": "false",
                    },
                },
            },
            outputs={"QueueArn": {"Fn::GetAtt": ["Queue", "Arn"]}},
        )

    stack = create_stack(cfn, "cr-unmanaged", body("in/"))
    queue_arn = outputs(stack)["QueueArn"]

    def queues() -> dict[str, dict[str, Any]]:
        return {n["QueueArn"]: n for n in _configurations(s3, "cr-imported-bucket")["QueueConfigurations"]}

    assert set(queues()) == {external_arn, queue_arn}
    assert queues()[external_arn]["Id"] == "theirs"
    assert queues()[queue_arn]["Id"].startswith(stack["StackId"] + "-")

    update_stack(cfn, "cr-unmanaged", body("incoming/"))
    assert set(queues()) == {external_arn, queue_arn}
    assert _rules(queues()[queue_arn]) == {"prefix": "incoming/"}

    delete_stack(cfn, "cr-unmanaged")
    assert list(queues()) == [external_arn]
    s3.delete_bucket(Bucket="cr-imported-bucket")
    sqs.delete_queue(QueueUrl=external_queue)


def test_bucket_notifications_to_a_missing_destination_fail_as_on_aws(cfn: Any, aws: Aws) -> None:
    missing = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:does-not-exist"
    notifications: dict[str, Any] = {
        "Type": "Custom::S3BucketNotifications",
        "Properties": {
            "ServiceToken": SERVICE_TOKEN,
            "BucketName": {"Ref": "Bucket"},
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    {"Events": ["s3:ObjectCreated:*"], "LambdaFunctionArn": missing}
                ]
            },
        },
    }
    body = template({"Bucket": {"Type": "AWS::S3::Bucket"}, "Notifications": notifications})
    cfn.create_stack(StackName="cr-missing-destination", TemplateBody=body)
    stack = describe(cfn, "cr-missing-destination")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert (
        f"Unable to validate the following destination configurations: {missing}"
        in stack["StackStatusReason"]
    )
    cfn.delete_stack(StackName="cr-missing-destination")

    skipping = copy.deepcopy(notifications)
    skipping["Properties"]["SkipDestinationValidation"] = "true"
    body = template(
        {"Bucket": {"Type": "AWS::S3::Bucket"}, "Notifications": skipping}, {"B": {"Ref": "Bucket"}}
    )
    bucket = outputs(create_stack(cfn, "cr-skip-validation", body))["B"]
    assert (
        _configurations(aws("s3"), bucket)["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == missing
    )
    delete_stack(cfn, "cr-skip-validation")


def _restrict_template(with_restriction: bool = True) -> str:
    resources: dict[str, Any] = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.30.0.0/16"}},
        "HttpsFromVpc": {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]},
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "CidrIp": "10.30.0.0/16",
            },
        },
    }
    if with_restriction:
        resources["RestrictDefaultSecurityGroup"] = {
            "Type": "Custom::VpcRestrictDefaultSG",
            "Properties": {
                "ServiceToken": SERVICE_TOKEN,
                "DefaultSecurityGroupId": {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]},
                "Account": ACCOUNT,
            },
        }
    return template(resources, outputs={"Group": {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]}})


def test_restrict_default_security_group(cfn: Any, aws: Aws) -> None:
    ec2 = aws("ec2")

    def group(group_id: str) -> dict[str, Any]:
        found: dict[str, Any] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return found

    # the default group of a VPC without the custom resource has moto's default egress rule
    plain = outputs(create_stack(cfn, "cr-default-sg-plain", _restrict_template(with_restriction=False)))
    egress = group(plain["Group"])["IpPermissionsEgress"]
    assert [(p["IpProtocol"], p["IpRanges"][0]["CidrIp"]) for p in egress] == [("-1", "0.0.0.0/0")]
    delete_stack(cfn, "cr-default-sg-plain")

    group_id = outputs(create_stack(cfn, "cr-default-sg", _restrict_template()))["Group"]
    restricted = group(group_id)
    assert restricted["GroupName"] == "default"
    assert restricted["IpPermissionsEgress"] == []
    # rules other than the defaults stay, as with CDK's handler
    [https] = restricted["IpPermissions"]
    assert (https["IpProtocol"], https["FromPort"], https["IpRanges"][0]["CidrIp"]) == (
        "tcp",
        443,
        "10.30.0.0/16",
    )

    # removing the resource (a delete) puts back what it revoked
    update_stack(cfn, "cr-default-sg", _restrict_template(with_restriction=False))
    egress = group(group_id)["IpPermissionsEgress"]
    assert [(p["IpProtocol"], p["IpRanges"][0]["CidrIp"]) for p in egress] == [("-1", "0.0.0.0/0")]

    update_stack(cfn, "cr-default-sg", _restrict_template())
    assert group(group_id)["IpPermissionsEgress"] == []
    delete_stack(cfn, "cr-default-sg")
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroups"
    ]


def test_log_retention(cfn: Any, aws: Aws) -> None:
    logs = aws("logs")
    logs.create_log_group(logGroupName="/cr/existing")

    def body(retention: int | None, existing_retention: str = "7", existing: str = "/cr/existing") -> str:
        kept: dict[str, Any] = {"ServiceToken": SERVICE_TOKEN, "LogGroupName": "/cr/created"}
        if retention is not None:
            kept["RetentionInDays"] = retention
        return template(
            {
                "Created": {"Type": "Custom::LogRetention", "Properties": kept},
                "Existing": {
                    "Type": "Custom::LogRetention",
                    "Properties": {
                        "ServiceToken": SERVICE_TOKEN,
                        "LogGroupName": existing,
                        "RetentionInDays": existing_retention,
                        "RemovalPolicy": "destroy",
                    },
                },
            },
            outputs={"Name": {"Fn::GetAtt": ["Created", "LogGroupName"]}, "Ref": {"Ref": "Existing"}},
        )

    def retention() -> dict[str, int | None]:
        groups = logs.describe_log_groups(logGroupNamePrefix="/cr/")["logGroups"]
        return {g["logGroupName"]: g.get("retentionInDays") for g in groups}

    out = outputs(create_stack(cfn, "cr-log-retention", body(30)))
    assert out == {"Name": "/cr/created", "Ref": "/cr/existing"}
    assert retention() == {"/cr/created": 30, "/cr/existing": 7}

    update_stack(cfn, "cr-log-retention", body(None, existing_retention="90"))
    assert retention() == {"/cr/created": None, "/cr/existing": 90}

    # a retention that CloudWatch Logs refuses fails the update, as the handler would
    change_set = cfn.create_change_set(
        StackName="cr-log-retention", ChangeSetName="bad", ChangeSetType="UPDATE", TemplateBody=body(42)
    )
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    failed = describe(cfn, "cr-log-retention")
    assert failed["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "retentionInDays 42" in failed["StackStatusReason"]
    assert retention() == {"/cr/created": None, "/cr/existing": 90}

    # a new name is a replacement: the old group goes if RemovalPolicy is destroy
    out = outputs(update_stack(cfn, "cr-log-retention", body(None, "90", existing="/cr/renamed")))
    assert out["Ref"] == "/cr/renamed"
    assert retention() == {"/cr/created": None, "/cr/renamed": 90}

    # the group outlives the resource unless RemovalPolicy is destroy, as on AWS
    delete_stack(cfn, "cr-log-retention")
    assert retention() == {"/cr/created": None}
    logs.delete_log_group(logGroupName="/cr/created")
