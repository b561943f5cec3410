"""Each invariant catches its offence in a small template, naming the offending logical id."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.invariants import rules

BUCKET_ARN = {"Fn::GetAtt": ["Data", "Arn"]}
OBJECTS = {"Fn::Join": ["", [BUCKET_ARN, "/*"]]}


def deny(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [BUCKET_ARN, OBJECTS],
        "Condition": condition,
    }


def conforming() -> dict[str, Any]:
    """One resource of each kind the rules walk, each as the platform makes it."""
    logs_grant = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": OBJECTS,
        "Condition": {
            "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": ["Other", "Arn"]}},
            "StringEquals": {"aws:SourceAccount": "123456789012"},
        },
    }
    return {
        "Resources": {
            "Data": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
            "DataPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Data"},
                    "PolicyDocument": {
                        "Statement": [
                            deny({"Bool": {"aws:SecureTransport": "false"}}),
                            deny({"NumericLessThan": {"s3:TlsVersion": 1.2}}),
                            logs_grant,
                        ]
                    },
                },
            },
            "Permission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {"Principal": "s3.amazonaws.com", "SourceAccount": "1", "SourceArn": "a"},
            },
            "Ingress": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {"SourceSecurityGroupId": "sg-1", "FromPort": 443},
            },
            "Group": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"SecurityGroupIngress": [{"SourcePrefixListId": "pl-1", "FromPort": 443}]},
            },
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "ContainerDefinitions": [
                        {"Name": "app", "User": "1000:1000", "ReadonlyRootFilesystem": True}
                    ]
                },
            },
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"KmsKeyId": "k", "RetentionInDays": 90},
            },
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": OBJECTS},
                            {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
                        ]
                    }
                },
            },
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "DeletionPolicy": "Snapshot",
                "UpdateReplacePolicy": "Snapshot",
            },
            "Writer": {
                "Type": "AWS::RDS::DBInstance",
                "DeletionPolicy": "Delete",
                "Properties": {"DBClusterIdentifier": {"Ref": "Cluster"}},
            },
            "Target": {
                "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                "Properties": {"ScalableDimension": "ecs:service:DesiredCount"},
            },
            "Cpu": {
                "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                "Properties": {
                    "ScalingTargetId": {"Ref": "Target"},
                    "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": {
                        "PredefinedMetricSpecification": {"PredefinedMetricType": rules.CPU_METRIC},
                        "TargetValue": 70,
                    },
                },
            },
        }
    }


def statement(template: dict[str, Any], index: int) -> dict[str, Any]:
    result: dict[str, Any] = template["Resources"]["DataPolicy"]["Properties"]["PolicyDocument"]["Statement"][
        index
    ]
    return result


def without_tls_deny(t: dict[str, Any]) -> None:
    del t["Resources"]["DataPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]


def old_tls_allowed(t: dict[str, Any]) -> None:
    statement(t, 1)["Condition"] = {"NumericLessThan": {"s3:TlsVersion": 1.0}}


def deny_on_the_bucket_only(t: dict[str, Any]) -> None:
    statement(t, 1)["Resource"] = [BUCKET_ARN]


def public_read(t: dict[str, Any]) -> None:
    statement(t, 2).update(Principal="*", Action="s3:GetObject", Condition={})


def public_read_through_aws_wildcard(t: dict[str, Any]) -> None:
    statement(t, 2).update(Principal={"AWS": ["*"]}, Action="s3:GetObject", Condition={})


def no_bucket_policy(t: dict[str, Any]) -> None:
    del t["Resources"]["DataPolicy"]


def grant_without_source_arn(t: dict[str, Any]) -> None:
    del statement(t, 2)["Condition"]["ArnLike"]


def grant_without_source_account(t: dict[str, Any]) -> None:
    del statement(t, 2)["Condition"]["StringEquals"]


def permission_without_source_arn(t: dict[str, Any]) -> None:
    del t["Resources"]["Permission"]["Properties"]["SourceArn"]


def ingress_from_everywhere(t: dict[str, Any]) -> None:
    t["Resources"]["Ingress"]["Properties"] = {"CidrIp": "0.0.0.0/0", "FromPort": 443}


def inline_ingress_without_source(t: dict[str, Any]) -> None:
    t["Resources"]["Group"]["Properties"]["SecurityGroupIngress"] = [{"FromPort": 443}]


def container_as_root(t: dict[str, Any]) -> None:
    t["Resources"]["Task"]["Properties"]["ContainerDefinitions"][0]["User"] = "0:0"


def container_without_user(t: dict[str, Any]) -> None:
    del t["Resources"]["Task"]["Properties"]["ContainerDefinitions"][0]["User"]


def writable_root(t: dict[str, Any]) -> None:
    t["Resources"]["Task"]["Properties"]["ContainerDefinitions"][0]["ReadonlyRootFilesystem"] = False


def unencrypted_logs(t: dict[str, Any]) -> None:
    del t["Resources"]["Logs"]["Properties"]["KmsKeyId"]


def logs_kept_forever(t: dict[str, Any]) -> None:
    del t["Resources"]["Logs"]["Properties"]["RetentionInDays"]


def write_on_everything(t: dict[str, Any]) -> None:
    t["Resources"]["Policy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"] = "*"


def wildcard_action_on_everything(t: dict[str, Any]) -> None:
    t["Resources"]["Policy"]["Properties"]["PolicyDocument"]["Statement"][1]["Action"] = "ecr:*"


def not_resource(t: dict[str, Any]) -> None:
    first = t["Resources"]["Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
    first["NotResource"] = first.pop("Resource")


def bucket_deleted_with_the_stack(t: dict[str, Any]) -> None:
    t["Resources"]["Data"]["DeletionPolicy"] = "Delete"


def cluster_replaced_without_snapshot(t: dict[str, Any]) -> None:
    del t["Resources"]["Cluster"]["UpdateReplacePolicy"]


def standalone_instance_deleted(t: dict[str, Any]) -> None:
    del t["Resources"]["Writer"]["Properties"]["DBClusterIdentifier"]


def scaling_on_memory(t: dict[str, Any]) -> None:
    tracking = t["Resources"]["Cpu"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] = "ECSServiceAverageMemoryUtilization"


def scaling_without_policy(t: dict[str, Any]) -> None:
    del t["Resources"]["Cpu"]


OFFENCES = [
    (without_tls_deny, rules.bucket_policy_violations, "Data: the policy does not deny requests without TLS"),
    (old_tls_allowed, rules.bucket_policy_violations, "Data: the policy does not deny TLS versions before"),
    (deny_on_the_bucket_only, rules.bucket_policy_violations, "Data: the policy does not deny TLS versions"),
    (public_read, rules.bucket_policy_violations, "Data: the policy allows s3:GetObject to a wildcard"),
    (
        public_read_through_aws_wildcard,
        rules.bucket_policy_violations,
        "Data: the policy allows s3:GetObject",
    ),
    (no_bucket_policy, rules.bucket_policy_violations, "Data: no bucket policy"),
    (grant_without_source_arn, rules.service_grant_violations, "DataPolicy: statement 2 grants s3:PutObject"),
    (grant_without_source_account, rules.service_grant_violations, "without aws:SourceAccount"),
    (permission_without_source_arn, rules.service_grant_violations, "Permission: permission for s3"),
    (ingress_from_everywhere, rules.security_group_violations, "Ingress: admits every address (0.0.0.0/0)"),
    (inline_ingress_without_source, rules.security_group_violations, "Group: ingress rule 0 admits"),
    (container_as_root, rules.container_violations, "Task/app: runs as root (User 0:0)"),
    (container_without_user, rules.container_violations, "Task/app: runs as root (User not set)"),
    (writable_root, rules.container_violations, "Task/app: the root filesystem is writable"),
    (unencrypted_logs, rules.log_group_violations, "Logs: not encrypted"),
    (logs_kept_forever, rules.log_group_violations, "Logs: no retention"),
    (
        write_on_everything,
        rules.write_resource_violations,
        "Policy: statement 0 allows s3:PutObject on every",
    ),
    (wildcard_action_on_everything, rules.write_resource_violations, "Policy: statement 1 allows ecr:*"),
    (not_resource, rules.write_resource_violations, "Policy: statement 0 allows with NotAction/NotResource"),
    (
        bucket_deleted_with_the_stack,
        rules.retention_violations,
        "Data (AWS::S3::Bucket): DeletionPolicy is Delete",
    ),
    (
        cluster_replaced_without_snapshot,
        rules.retention_violations,
        "Cluster (AWS::RDS::DBCluster): UpdateRepl",
    ),
    (
        standalone_instance_deleted,
        rules.retention_violations,
        "Writer (AWS::RDS::DBInstance): DeletionPolicy",
    ),
    (scaling_on_memory, rules.scaling_violations, "Target: Cpu scales on ECSServiceAverageMemoryUtilization"),
    (scaling_without_policy, rules.scaling_violations, "Target: no scaling policy"),
]


@pytest.mark.parametrize("rule", sorted(rules.INVARIANTS))
def test_the_conforming_template_passes_every_rule(rule: str) -> None:
    assert rules.INVARIANTS[rule](conforming()) == []


@pytest.mark.parametrize(("offence", "rule", "message"), OFFENCES, ids=[o[0].__name__ for o in OFFENCES])
def test_each_rule_names_the_offending_resource(offence: Any, rule: Any, message: str) -> None:
    # GIVEN a conforming template with one offence WHEN the rule walks it THEN it names the resource
    template = copy.deepcopy(conforming())
    offence(template)
    found = rule(template)
    assert any(line.startswith(message) or message in line for line in found), found


def test_every_rule_is_shown_to_catch_something() -> None:
    assert {o[1] for o in OFFENCES} == set(rules.INVARIANTS.values())
