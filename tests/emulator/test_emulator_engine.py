"""The fixes to moto's CloudFormation engine on the CDK CLI's path, one behaviour per test."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

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

BUCKET = {"Bucket": {"Type": "AWS::S3::Bucket"}}


def test_change_set_created_stack_has_outputs_and_exports(cfn: Any) -> None:
    body = template(
        BUCKET,
        Outputs={
            "Name": {"Value": {"Ref": "Bucket"}, "Export": {"Name": "engine-bucket-name"}},
            "Arn": {"Value": {"Fn::GetAtt": ["Bucket", "Arn"]}, "Description": "arn"},
        },
        Description="outputs test",
    )
    stack = create_stack(cfn, "engine-outputs", body, via_change_set=True)
    out = outputs(stack)
    assert out["Arn"] == f"arn:aws:s3:::{out['Name']}"
    assert stack["Description"] == "outputs test"
    assert {"Name": "engine-bucket-name", "Value": out["Name"]} in [
        {"Name": e["Name"], "Value": e["Value"]} for e in cfn.list_exports()["Exports"]
    ]
    assert cfn.list_change_sets(StackName="engine-outputs")["Summaries"] == []
    delete_stack(cfn, "engine-outputs")
    assert "engine-bucket-name" not in [e["Name"] for e in cfn.list_exports()["Exports"]]


def test_delete_change_set_by_name_arn_and_missing(cfn: Any) -> None:
    create_stack(cfn, "engine-cs-a", template(BUCKET))
    create_stack(cfn, "engine-cs-b", template(BUCKET))
    changed = template({**BUCKET, "Other": {"Type": "AWS::S3::Bucket"}})
    first = cfn.create_change_set(
        StackName="engine-cs-a", ChangeSetName="cdk", ChangeSetType="UPDATE", TemplateBody=changed
    )
    second = cfn.create_change_set(
        StackName="engine-cs-b", ChangeSetName="cdk", ChangeSetType="UPDATE", TemplateBody=changed
    )
    described = cfn.describe_change_set(StackName="engine-cs-a", ChangeSetName="cdk")
    assert described["ChangeSetId"] == first["Id"]
    assert [c["ResourceChange"]["LogicalResourceId"] for c in described["Changes"]] == ["Other"]

    cfn.delete_change_set(StackName="engine-cs-a", ChangeSetName="cdk")
    assert cfn.describe_change_set(ChangeSetName=second["Id"])["StackName"] == "engine-cs-b"
    with pytest.raises(ClientError) as missing:
        cfn.describe_change_set(StackName="engine-cs-a", ChangeSetName="cdk")
    assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"
    cfn.delete_change_set(ChangeSetName=second["Id"])
    cfn.delete_change_set(StackName="engine-cs-a", ChangeSetName="never-created")
    assert cfn.list_change_sets(StackName="engine-cs-b")["Summaries"] == []
    delete_stack(cfn, "engine-cs-a")
    delete_stack(cfn, "engine-cs-b")


def test_use_previous_value_keeps_raw_parameter_values(cfn: Any, aws: Aws) -> None:
    aws("ssm").put_parameter(Name="/engine/bootstrap-version", Value="21", Type="String")
    body = template(
        {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "TopicName"}}}},
        outputs={"Version": {"Ref": "BootstrapVersion"}, "Topic": {"Ref": "Topic"}},
        Parameters={
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/engine/bootstrap-version",
            },
            "TopicName": {"Type": "String"},
        },
    )
    create_stack(
        cfn,
        "engine-params",
        body,
        via_change_set=True,
        Parameters=[{"ParameterKey": "TopicName", "ParameterValue": "alerts"}],
    )
    changed = body.replace('"Version"', '"Bootstrap"')
    stack = update_stack(
        cfn,
        "engine-params",
        changed,
        Parameters=[
            {"ParameterKey": "BootstrapVersion", "UsePreviousValue": True},
            {"ParameterKey": "TopicName", "UsePreviousValue": True},
        ],
    )
    assert outputs(stack) == {"Bootstrap": "21", "Topic": "arn:aws:sns:us-east-1:123456789012:alerts"}
    delete_stack(cfn, "engine-params")


def test_update_keeps_resources_without_properties(cfn: Any) -> None:
    body = template({"Gateway": {"Type": "AWS::EC2::InternetGateway"}, **BUCKET})
    create_stack(cfn, "engine-noprops", body, via_change_set=True)
    before = cfn.describe_stack_resource(StackName="engine-noprops", LogicalResourceId="Gateway")
    update_stack(
        cfn,
        "engine-noprops",
        template({"Gateway": {"Type": "AWS::EC2::InternetGateway"}, "Other": BUCKET["Bucket"], **BUCKET}),
    )
    after = cfn.describe_stack_resource(StackName="engine-noprops", LogicalResourceId="Gateway")
    assert (
        after["StackResourceDetail"]["PhysicalResourceId"]
        == before["StackResourceDetail"]["PhysicalResourceId"]
    )
    again = cfn.create_change_set(
        StackName="engine-noprops",
        ChangeSetName="again",
        ChangeSetType="UPDATE",
        TemplateBody=template(
            {"Gateway": {"Type": "AWS::EC2::InternetGateway"}, "Other": BUCKET["Bucket"], **BUCKET}
        ),
    )
    assert cfn.describe_change_set(ChangeSetName=again["Id"])["Status"] == "FAILED"
    delete_stack(cfn, "engine-noprops")


@pytest.mark.parametrize(
    "url",
    [
        "{endpoint}/{bucket}/engine/template.json",
        "https://s3.us-east-1.amazonaws.com/{bucket}/engine/template.json",
        "https://{bucket}.s3.us-east-1.amazonaws.com/engine/template.json",
    ],
)
def test_template_urls(cfn: Any, aws: Aws, emulator: Emulator, url: str) -> None:
    s3 = aws("s3")
    bucket = "engine-templates"
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="engine/template.json", Body=template(BUCKET).encode())
    location = url.format(endpoint=emulator.endpoint, bucket=bucket)
    cfn.create_change_set(
        StackName="engine-url", ChangeSetName="c", ChangeSetType="CREATE", TemplateURL=location
    )
    cfn.execute_change_set(StackName="engine-url", ChangeSetName="c")
    assert describe(cfn, "engine-url")["StackStatus"] == "CREATE_COMPLETE"
    delete_stack(cfn, "engine-url")


def test_enforce_ssl_denies_only_what_the_condition_says(cfn: Any, aws: Aws) -> None:
    def policy(secure: str) -> dict[str, Any]:
        return {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "Bucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "s3:*",
                            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
                            "Condition": {"Bool": {"aws:SecureTransport": secure}},
                        }
                    ],
                },
            },
        }

    body = template({**BUCKET, "Policy": policy("false")}, outputs={"Name": {"Ref": "Bucket"}})
    bucket = outputs(create_stack(cfn, "engine-ssl", body))["Name"]
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="ok", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="ok")
    update_stack(
        cfn, "engine-ssl", template({**BUCKET, "Policy": policy("true")}, outputs={"Name": {"Ref": "Bucket"}})
    )
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="no", Body=b"1")
    assert denied.value.response["Error"]["Code"] in ("AccessDenied", "403")
    delete_stack(cfn, "engine-ssl")


def test_failed_resource_rolls_back_with_reason(cfn: Any, aws: Aws) -> None:
    body = template(
        {
            **BUCKET,
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "DependsOn": ["Bucket"],
                "Properties": {
                    "Engine": "not-an-engine",
                    "MasterUsername": "x",
                    "MasterUserPassword": "longenough",
                },
            },
        }
    )
    cfn.create_stack(StackName="engine-fail", TemplateBody=body)
    stack = describe(cfn, "engine-fail")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Cluster (AWS::RDS::DBCluster)" in stack["StackStatusReason"]
    assert stack.get("Outputs") is None
    events = cfn.describe_stack_events(StackName="engine-fail")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert (
        failed[0]["LogicalResourceId"] == "Cluster" and "not-an-engine" in failed[0]["ResourceStatusReason"]
    )
    bucket = cfn.describe_stack_resources(StackName="engine-fail")["StackResources"]
    assert bucket == []
    cfn.delete_stack(StackName="engine-fail")

    change_set = cfn.create_change_set(
        StackName="engine-fail", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=body
    )
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    assert describe(cfn, "engine-fail")["StackStatus"] == "ROLLBACK_COMPLETE"
    cfn.delete_stack(StackName="engine-fail")


def test_unknown_resource_type_is_refused(cfn: Any) -> None:
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(
            StackName="engine-unknown", TemplateBody=template({"X": {"Type": "AWS::Nope::Thing"}})
        )
    assert "Unrecognized resource types: [AWS::Nope::Thing]" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        describe(cfn, "engine-unknown")


def test_dynamic_references_and_custom_resources(cfn: Any, aws: Aws) -> None:
    aws("ssm").put_parameter(Name="/engine/db-name", Value="prefect", Type="String")
    aws("secretsmanager").create_secret(Name="engine/api", SecretString=json.dumps({"token": "s3cr3t"}))
    body = template(
        {
            "Name": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Type": "String",
                    "Value": "{{resolve:ssm:/engine/db-name}}-"
                    "{{resolve:secretsmanager:engine/api:SecretString:token}}",
                },
            },
            "Setup": {
                "Type": "Custom::Unmodeled",
                "Properties": {
                    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:none",
                    "Db": "x",
                },
            },
        },
        outputs={
            "Name": {"Ref": "Name"},
            "Result": {"Fn::GetAtt": ["Setup", "Anything"]},
            "Setup": {"Ref": "Setup"},
        },
    )
    out = outputs(create_stack(cfn, "engine-dynamic", body))
    assert aws("ssm").get_parameter(Name=out["Name"])["Parameter"]["Value"] == "prefect-s3cr3t"
    assert out["Result"] == "" and out["Setup"].startswith("Setup-")
    delete_stack(cfn, "engine-dynamic")
    aws("secretsmanager").delete_secret(SecretId="engine/api", ForceDeleteWithoutRecovery=True)


def test_replacement_updates_dependents_and_removes_last(cfn: Any, aws: Aws) -> None:
    def body(secret_name: str, keep_topic: bool) -> str:
        resources: dict[str, Any] = {
            "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": secret_name}},
            "Pointer": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/engine/secret-arn", "Type": "String", "Value": {"Ref": "Secret"}},
            },
        }
        if keep_topic:
            resources["Topic"] = {"Type": "AWS::SNS::Topic"}
        return template(resources, outputs={"Secret": {"Ref": "Secret"}})

    first = outputs(create_stack(cfn, "engine-replace", body("engine/first", True)))["Secret"]
    second = outputs(update_stack(cfn, "engine-replace", body("engine/second", False)))["Secret"]
    assert first != second and "engine/second" in second
    assert aws("ssm").get_parameter(Name="/engine/secret-arn")["Parameter"]["Value"] == second
    names = [s["Name"] for s in aws("secretsmanager").list_secrets()["SecretList"]]
    assert "engine/second" in names and "engine/first" not in names
    assert (
        cfn.describe_stack_resources(StackName="engine-replace", LogicalResourceId="Topic")["StackResources"]
        == []
    )
    delete_stack(cfn, "engine-replace")
