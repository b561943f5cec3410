"""A stack's ``AWS::IAM::Role`` (emulator.cfn.iam.Role): its ManagedPolicyArns are attached, AWS managed
ones included; an update changes its trust, inline and managed policies in place and a new RoleName
replaces it; a missing policy fails the stack; deleting the stack deletes the role. IAM's API finds
AWS managed policies by their ARN."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.emulator.emulator_testlib import (
    REGION,
    Emulator,
    create_stack,
    delete_stack,
    describe,
    outputs,
    template,
    update_stack,
)

pytestmark = pytest.mark.slow  # a CloudFormation stack per test: about 15 s for the module

Aws = Callable[[str], Any]

ACCOUNT = "123456789012"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _trust(principal: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
    }


def _resources(parameter: str, managed: list[Any], trust: str) -> dict[str, Any]:
    """A role with `managed` as its ManagedPolicyArns, and a customer managed policy that alone grants
    ssm:PutParameter on `parameter`."""
    return {
        "PutParameter": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "ssm:PutParameter",
                            "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{parameter}",
                        }
                    ],
                }
            },
        },
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": _trust(trust), "ManagedPolicyArns": managed},
        },
    }


def _body(parameter: str, managed: list[Any], trust: str = f"arn:aws:iam::{ACCOUNT}:root") -> str:
    return template(
        _resources(parameter, managed, trust),
        {"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}, "PolicyArn": {"Ref": "PutParameter"}},
    )


def _session(emulator: Emulator, sts: Any, role_arn: str, service: str) -> Any:
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="stack-role")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    ).client(service, endpoint_url=emulator.endpoint)


def _attached(iam: Any, role_arn: str) -> set[str]:
    answer = iam.list_attached_role_policies(RoleName=role_arn.rsplit("/", 1)[-1])
    return {p["PolicyArn"] for p in answer["AttachedPolicies"]}


def _refused(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


@pytest.fixture
def parameter(aws: Aws) -> str:
    name = f"/role-test/{uuid.uuid4().hex[:8]}"
    aws("ssm").put_parameter(Name=name, Value="v1", Type="String")
    return name


def test_managed_policy_arns_are_attached_and_grant_under_enforce(
    emulator: Emulator, aws: Aws, set_mode: Callable[[str], None], parameter: str
) -> None:
    # GIVEN a stack whose role names an AWS managed policy and the stack's customer managed policy
    name = f"role-{uuid.uuid4().hex[:8]}"
    out = outputs(
        create_stack(aws("cloudformation"), name, _body(parameter, [READ_ONLY, {"Ref": "PutParameter"}]))
    )
    # THEN both are attached
    assert _attached(aws("iam"), out["RoleArn"]) == {READ_ONLY, out["PolicyArn"]}
    # AND under enforce a session of the role may call what only one or the other grants
    set_mode("enforce")
    ssm = _session(emulator, aws("sts"), out["RoleArn"], "ssm")
    assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == "v1"
    ssm.put_parameter(Name=parameter, Value="v2", Type="String", Overwrite=True)
    # and not what neither grants
    assert _refused(lambda: ssm.delete_parameter(Name=parameter)) == "AccessDeniedException"


def test_an_update_detaches_a_removed_policy_and_changes_the_trust(
    emulator: Emulator, aws: Aws, set_mode: Callable[[str], None], parameter: str
) -> None:
    # GIVEN a stack role with both policies, trusted by the account
    cfn, iam = aws("cloudformation"), aws("iam")
    name = f"role-{uuid.uuid4().hex[:8]}"
    out = outputs(create_stack(cfn, name, _body(parameter, [READ_ONLY, {"Ref": "PutParameter"}])))
    set_mode("enforce")
    ssm = _session(emulator, aws("sts"), out["RoleArn"], "ssm")
    ssm.put_parameter(Name=parameter, Value="v2", Type="String", Overwrite=True)
    # WHEN an update drops the customer managed policy
    assert outputs(update_stack(cfn, name, _body(parameter, [READ_ONLY])))["RoleArn"] == out["RoleArn"]
    # THEN it is detached, the role's session is refused what it granted, the rest still works
    assert _attached(iam, out["RoleArn"]) == {READ_ONLY}
    assert iam.get_policy(PolicyArn=out["PolicyArn"])["Policy"]["AttachmentCount"] == 0
    error = _refused(lambda: ssm.put_parameter(Name=parameter, Value="v3", Type="String", Overwrite=True))
    assert error == "AccessDeniedException"
    assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == "v2"
    # WHEN an update trusts only a service
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else-{uuid.uuid4().hex[:6]}"
    update_stack(cfn, name, _body(parameter, [READ_ONLY], trust=other))
    # THEN the account's administrator may no longer assume it
    trust = iam.get_role(RoleName=out["RoleArn"].rsplit("/", 1)[-1])["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["AWS"] == other
    assert _refused(lambda: _session(emulator, aws("sts"), out["RoleArn"], "ssm")) == "AccessDenied"


def test_an_update_of_inline_policies_and_settings_is_applied_in_place(aws: Aws, parameter: str) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    name = f"role-{uuid.uuid4().hex[:8]}"
    resources = _resources(parameter, [READ_ONLY], f"arn:aws:iam::{ACCOUNT}:root")
    statement = {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    resources["Role"]["Properties"]["Policies"] = [
        {"PolicyName": "kept", "PolicyDocument": document},
        {"PolicyName": "dropped", "PolicyDocument": document},
    ]
    out = outputs(create_stack(cfn, name, template(resources, {"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}})))
    role_name = out["RoleArn"].rsplit("/", 1)[-1]
    # The created role's inline policies read back as the documents given (IAM stores JSON text)
    assert iam.get_role_policy(RoleName=role_name, PolicyName="kept")["PolicyDocument"] == document
    changed = {"Version": "2012-10-17", "Statement": [{**statement, "Action": "sqs:GetQueueUrl"}]}
    resources["Role"]["Properties"] |= {
        "Policies": [{"PolicyName": "kept", "PolicyDocument": changed}],
        "MaxSessionDuration": 7200,
        "Description": "updated",
    }
    update_stack(cfn, name, template(resources, {"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}}))
    role = iam.get_role(RoleName=role_name)["Role"]
    assert (role["MaxSessionDuration"], role["Description"]) == (7200, "updated")
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == ["kept"]
    kept = iam.get_role_policy(RoleName=role_name, PolicyName="kept")["PolicyDocument"]
    assert kept["Statement"][0]["Action"] == "sqs:GetQueueUrl"


def test_a_missing_managed_policy_fails_the_stack(aws: Aws, parameter: str) -> None:
    cfn = aws("cloudformation")
    name = f"role-{uuid.uuid4().hex[:8]}"
    missing = f"arn:aws:iam::{ACCOUNT}:policy/never-created-{uuid.uuid4().hex[:6]}"
    role_name = f"missing-policy-{uuid.uuid4().hex[:8]}"
    resources = _resources(parameter, [READ_ONLY, missing], f"arn:aws:iam::{ACCOUNT}:root")
    resources["Role"]["Properties"]["RoleName"] = role_name
    cfn.create_stack(StackName=name, TemplateBody=template(resources))
    stack = describe(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert f"Policy {missing} does not exist or is not attachable." in stack["StackStatusReason"]
    assert _refused(lambda: aws("iam").get_role(RoleName=role_name)) == "NoSuchEntity"


def test_an_unknown_aws_managed_policy_fails_the_stack(aws: Aws, parameter: str) -> None:
    cfn = aws("cloudformation")
    name = f"role-{uuid.uuid4().hex[:8]}"
    missing = "arn:aws:iam::aws:policy/NoSuchPolicyOfAws"
    cfn.create_stack(StackName=name, TemplateBody=_body(parameter, [missing]))
    stack = describe(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert f"Policy {missing} does not exist or is not attachable." in stack["StackStatusReason"]


def test_deleting_the_stack_deletes_the_role_and_keeps_aws_policies_attachable(
    aws: Aws, parameter: str
) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    name = f"role-{uuid.uuid4().hex[:8]}"
    out = outputs(create_stack(cfn, name, _body(parameter, [READ_ONLY, {"Ref": "PutParameter"}])))
    delete_stack(cfn, name)
    assert _refused(lambda: iam.get_role(RoleName=out["RoleArn"].rsplit("/", 1)[-1])) == "NoSuchEntity"
    assert _refused(lambda: iam.get_policy(PolicyArn=out["PolicyArn"])) == "NoSuchEntity"
    # the AWS managed policy stays in the account, attachable by API
    assert iam.get_policy(PolicyArn=READ_ONLY)["Policy"]["Arn"] == READ_ONLY


def test_a_role_and_a_policy_of_another_stack_attach_once_and_stay_attached(aws: Aws) -> None:
    # GIVEN a stack's customer managed policy, and another stack's role that names it in ManagedPolicyArns
    cfn, iam = aws("cloudformation"), aws("iam")
    tag = uuid.uuid4().hex[:8]
    statement = {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}

    def policy_stack(action: str, roles: list[str]) -> str:
        document = {"Version": "2012-10-17", "Statement": [{**statement, "Action": action}]}
        policy = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"PolicyDocument": document, "Roles": roles},
        }
        return template({"Policy": policy}, {"PolicyArn": {"Ref": "Policy"}})

    policy_arn = outputs(create_stack(cfn, f"policy-{tag}", policy_stack("sqs:ListQueues", [])))["PolicyArn"]
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _trust(f"arn:aws:iam::{ACCOUNT}:root"),
            "ManagedPolicyArns": [policy_arn],
        },
    }
    role_body = template({"Role": role}, {"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}})
    role_arn = outputs(create_stack(cfn, f"role-{tag}", role_body))["RoleArn"]
    assert _attached(iam, role_arn) == {policy_arn}
    # WHEN the policy's document changes THEN the role keeps it
    update_stack(cfn, f"policy-{tag}", policy_stack("sqs:GetQueueUrl", []))
    assert _attached(iam, role_arn) == {policy_arn}
    # WHEN the policy's Roles also names the role THEN it is attached once
    update_stack(cfn, f"policy-{tag}", policy_stack("sqs:GetQueueUrl", [role_arn.rsplit("/", 1)[-1]]))
    assert iam.get_policy(PolicyArn=policy_arn)["Policy"]["AttachmentCount"] == 1
    # WHEN the role's stack is deleted THEN the policy is detached, and its own stack can go
    delete_stack(cfn, f"role-{tag}")
    assert iam.get_policy(PolicyArn=policy_arn)["Policy"]["AttachmentCount"] == 0
    delete_stack(cfn, f"policy-{tag}")


def test_an_update_keeps_what_was_attached_or_put_by_api(aws: Aws, parameter: str) -> None:
    # GIVEN a stack role, and a policy attached and an inline policy put on it by API
    cfn, iam = aws("cloudformation"), aws("iam")
    name = f"role-{uuid.uuid4().hex[:8]}"
    out = outputs(create_stack(cfn, name, _body(parameter, [READ_ONLY, {"Ref": "PutParameter"}])))
    role_name = out["RoleArn"].rsplit("/", 1)[-1]
    lambda_basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName=role_name, PolicyArn=lambda_basic)
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=role_name, PolicyName="by-api", PolicyDocument=json.dumps(document))
    # WHEN an update drops one of the template's policies
    update_stack(cfn, name, _body(parameter, [READ_ONLY]))
    # THEN only that one is detached
    assert _attached(iam, out["RoleArn"]) == {READ_ONLY, lambda_basic}
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == ["by-api"]


def test_a_new_role_name_replaces_the_role(aws: Aws, parameter: str) -> None:
    # GIVEN a stack role with a name and both policies
    cfn, iam = aws("cloudformation"), aws("iam")
    tag = uuid.uuid4().hex[:8]
    resources = _resources(parameter, [READ_ONLY, {"Ref": "PutParameter"}], f"arn:aws:iam::{ACCOUNT}:root")
    resources["Role"]["Properties"]["RoleName"] = f"first-{tag}"
    create_stack(cfn, f"role-{tag}", template(resources))
    # WHEN its RoleName changes (a createOnly property)
    resources["Role"]["Properties"]["RoleName"] = f"second-{tag}"
    update_stack(cfn, f"role-{tag}", template(resources))
    # THEN a new role has the policies and the old one is gone
    assert len(_attached(iam, f"arn:aws:iam::{ACCOUNT}:role/second-{tag}")) == 2
    assert _refused(lambda: iam.get_role(RoleName=f"first-{tag}")) == "NoSuchEntity"
    delete_stack(cfn, f"role-{tag}")


def test_iam_api_finds_an_aws_managed_policy_by_its_arn(aws: Aws) -> None:
    iam = aws("iam")
    arn = "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert (policy["Arn"], policy["Path"]) == (arn, "/")
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert "sqs:" in json.dumps(version["Document"])
    assert (
        _refused(lambda: iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicyOfAws"))
        == "NoSuchEntity"
    )


def test_a_grant_on_a_log_groups_arn_attribute_covers_its_streams(
    emulator: Emulator, aws: Aws, set_mode: Callable[[str], None]
) -> None:
    # GIVEN a log group and a role granted to write to it on its Arn attribute, as CDK's grantWrite does
    grant = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": {"Fn::GetAtt": ["Group", "Arn"]},
    }
    resources = {
        "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _trust(f"arn:aws:iam::{ACCOUNT}:root"),
                "Policies": [
                    {"PolicyName": "write", "PolicyDocument": {"Version": "2012-10-17", "Statement": [grant]}}
                ],
            },
        },
    }
    body = template(
        resources,
        {
            "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
            "GroupArn": {"Fn::GetAtt": ["Group", "Arn"]},
            "Group": {"Ref": "Group"},
        },
    )
    out = outputs(create_stack(aws("cloudformation"), f"logs-{uuid.uuid4().hex[:8]}", body))
    # THEN the attribute is the group's ARN with :* at its end, as CloudFormation returns it
    assert out["GroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{out['Group']}:*"
    # AND under enforce the role may create a stream in the group and write to it
    set_mode("enforce")
    logs = _session(emulator, aws("sts"), out["RoleArn"], "logs")
    logs.create_log_stream(logGroupName=out["Group"], logStreamName="flow-run/1")
    logs.put_log_events(
        logGroupName=out["Group"], logStreamName="flow-run/1", logEvents=[{"timestamp": 1, "message": "m"}]
    )
