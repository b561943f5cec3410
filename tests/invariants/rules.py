"""Invariants of a synthesized CloudFormation template, each a function that walks every resource of
its kind and returns one message per offending resource, naming its logical id.

The functions read plain template dictionaries, so the same rule checks the whole platform (prod,
local, lean) and the small hand-made templates that prove it can fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from blog_infra.planning import STATEFUL_TYPES

Template = Mapping[str, Any]

RETAINING_POLICIES = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})
WILDCARD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
MINIMUM_TLS_VERSION = 1.2
READ_ONLY_VERBS = ("Get", "List", "Describe", "Head", "BatchGet", "BatchCheck", "Query", "Scan", "Lookup")
"""Action names starting with one of these read; every other action (and every `*`) may write."""
CPU_METRIC = "ECSServiceAverageCPUUtilization"

RESOURCE_POLICIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}
"""Resource-based policies, by the property that holds the document."""

SOURCE_ACCOUNT = "aws:sourceaccount"
SOURCE_ARN = "aws:sourcearn"
SCOPING_EQUIVALENTS = {"kms:encryptioncontext:aws:logs:arn": frozenset({SOURCE_ACCOUNT, SOURCE_ARN})}
"""Condition keys that scope a service grant as the source conditions do. CloudWatch Logs calls KMS
with the log group's ARN as encryption context and documents this key (not aws:SourceArn) for key
policies; that ARN names both the account and the log groups."""


def resources_of(template: Template, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in sorted(template.get("Resources", {}).items()):
        if resource.get("Type") in types:
            yield logical_id, resource


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in _list(document.get("Statement", [])) if isinstance(s, dict)]


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in _list(principal.get(kind)) for kind in ("AWS", "CanonicalUser", "Federated"))
    return False


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    keys: set[str] = set()
    for operands in (statement.get("Condition") or {}).values():
        if isinstance(operands, dict):
            keys |= {str(key).lower() for key in operands}
    return keys


def _condition_value(statement: Mapping[str, Any], operator: str, key: str) -> Any:
    return ((statement.get("Condition") or {}).get(operator) or {}).get(key)


def _covers_bucket_and_objects(statement: Mapping[str, Any], bucket: str) -> bool:
    arn = {"Fn::GetAtt": [bucket, "Arn"]}
    objects = {"Fn::Join": ["", [arn, "/*"]]}
    found = _list(statement.get("Resource"))
    return arn in found and objects in found and "s3:*" in _list(statement.get("Action"))


def _denies_everyone(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Deny" and _wildcard_principal(statement.get("Principal"))


def bucket_policy_violations(template: Template) -> list[str]:
    """Every bucket has a policy that denies plain HTTP and TLS before 1.2 on the bucket and its
    objects, and allows nothing to a wildcard principal."""
    policies: dict[str, list[dict[str, Any]]] = {}
    for _, policy in resources_of(template, "AWS::S3::BucketPolicy"):
        props = policy.get("Properties", {})
        bucket = props.get("Bucket", {})
        if isinstance(bucket, dict) and "Ref" in bucket:
            policies.setdefault(str(bucket["Ref"]), []).extend(statements(props.get("PolicyDocument")))
    found = []
    for bucket, _ in resources_of(template, "AWS::S3::Bucket"):
        bucket_statements = policies.get(bucket)
        if bucket_statements is None:
            found.append(f"{bucket}: no bucket policy")
            continue
        denies = [
            s for s in bucket_statements if _denies_everyone(s) and _covers_bucket_and_objects(s, bucket)
        ]
        if not any(
            str(_condition_value(s, "Bool", "aws:SecureTransport")).lower() == "false" for s in denies
        ):
            found.append(f"{bucket}: the policy does not deny requests without TLS (aws:SecureTransport)")
        if not any(
            _tls_floor(_condition_value(s, "NumericLessThan", "s3:TlsVersion")) >= MINIMUM_TLS_VERSION
            for s in denies
        ):
            found.append(f"{bucket}: the policy does not deny TLS versions before {MINIMUM_TLS_VERSION}")
        for statement in bucket_statements:
            if statement.get("Effect") == "Allow" and _wildcard_principal(statement.get("Principal")):
                found.append(f"{bucket}: the policy allows {statement.get('Action')} to a wildcard principal")
    return found


def _tls_floor(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def service_grant_violations(template: Template) -> list[str]:
    """Every grant to an AWS service principal in a resource policy (and every Lambda permission for
    a service) carries aws:SourceAccount and aws:SourceArn conditions, so that no other account's
    resource can make the service act on ours (the confused deputy)."""
    found = []
    for logical_id, resource in resources_of(template, *RESOURCE_POLICIES):
        document = resource.get("Properties", {}).get(RESOURCE_POLICIES[resource["Type"]])
        for index, statement in enumerate(statements(document)):
            principal = statement.get("Principal")
            services = _list(principal.get("Service", [])) if isinstance(principal, dict) else []
            if statement.get("Effect") != "Allow" or not services:
                continue
            keys = _condition_keys(statement)
            for key in keys & set(SCOPING_EQUIVALENTS):
                keys |= SCOPING_EQUIVALENTS[key]
            missing = [name for name in ("aws:SourceAccount", "aws:SourceArn") if name.lower() not in keys]
            if missing:
                found.append(
                    f"{logical_id}: statement {index} grants {statement.get('Action')} to "
                    f"{', '.join(map(str, services))} without {' and '.join(missing)}"
                )
    for logical_id, resource in resources_of(template, "AWS::Lambda::Permission"):
        props = resource.get("Properties", {})
        if str(props.get("Principal", "")).endswith(".amazonaws.com"):
            missing = [name for name in ("SourceAccount", "SourceArn") if name not in props]
            if missing:
                found.append(
                    f"{logical_id}: permission for {props['Principal']} without {' and '.join(missing)}"
                )
    return found


def _ingress_source(rule: Mapping[str, Any]) -> str | None:
    """What an ingress rule admits traffic from, or None when it names no source."""
    for key in ("SourceSecurityGroupId", "SourceSecurityGroupName", "SourcePrefixListId"):
        if rule.get(key):
            return key
    for key in ("CidrIp", "CidrIpv6"):
        cidr = rule.get(key)
        if cidr and cidr not in WILDCARD_CIDRS:
            return key
    return None


def security_group_violations(template: Template) -> list[str]:
    """Every ingress rule names its source: a security group, a prefix list or a bounded CIDR."""
    found = []
    for logical_id, group in resources_of(template, "AWS::EC2::SecurityGroup"):
        for index, rule in enumerate(group.get("Properties", {}).get("SecurityGroupIngress") or []):
            if _ingress_source(rule) is None:
                found.append(f"{logical_id}: ingress rule {index} admits {_describe_source(rule)}")
    for logical_id, ingress in resources_of(template, "AWS::EC2::SecurityGroupIngress"):
        props = ingress.get("Properties", {})
        if _ingress_source(props) is None:
            found.append(f"{logical_id}: admits {_describe_source(props)}")
    return found


def _describe_source(rule: Mapping[str, Any]) -> str:
    cidr = rule.get("CidrIp") or rule.get("CidrIpv6")
    return f"every address ({cidr})" if cidr else "traffic from no named source"


def container_violations(template: Template) -> list[str]:
    """Every container of every task definition runs as a non-root user with a read-only root."""
    found = []
    for logical_id, definition in resources_of(template, "AWS::ECS::TaskDefinition"):
        for container in definition.get("Properties", {}).get("ContainerDefinitions") or []:
            name = container.get("Name", "?")
            user = str(container.get("User", ""))
            if not user or user.split(":")[0] in {"root", "0"}:
                found.append(f"{logical_id}/{name}: runs as root (User {user or 'not set'})")
            if container.get("ReadonlyRootFilesystem") is not True:
                found.append(f"{logical_id}/{name}: the root filesystem is writable")
    return found


def log_group_violations(template: Template) -> list[str]:
    """Every log group is encrypted with a customer key and has a retention."""
    found = []
    for logical_id, group in resources_of(template, "AWS::Logs::LogGroup"):
        props = group.get("Properties", {})
        if not props.get("KmsKeyId"):
            found.append(f"{logical_id}: not encrypted with a KMS key")
        if not props.get("RetentionInDays"):
            found.append(f"{logical_id}: no retention (kept forever)")
    return found


def _writes(action: str) -> bool:
    name = action.partition(":")[2]
    return "*" in action or not name.startswith(READ_ONLY_VERBS)


def identity_policy_documents(template: Template) -> Iterator[tuple[str, Any]]:
    for logical_id, resource in resources_of(template, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        yield logical_id, resource.get("Properties", {}).get("PolicyDocument")
    for logical_id, resource in resources_of(template, "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
        for inline in resource.get("Properties", {}).get("Policies") or []:
            yield f"{logical_id}/{inline.get('PolicyName', '?')}", inline.get("PolicyDocument")


def write_resource_violations(template: Template) -> list[str]:
    """Every Allow of a write action names the resources it applies to (never `*`, never
    NotResource/NotAction)."""
    found = []
    for logical_id, document in identity_policy_documents(template):
        for index, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement or "NotResource" in statement:
                found.append(f"{logical_id}: statement {index} allows with NotAction/NotResource")
                continue
            writes = [str(a) for a in _list(statement.get("Action")) if _writes(str(a))]
            if writes and "*" in _list(statement.get("Resource")):
                found.append(
                    f"{logical_id}: statement {index} allows {', '.join(writes)} on every resource (*)"
                )
    return found


def _aurora_member(resource: Mapping[str, Any]) -> bool:
    """An Aurora instance: its data lives in the cluster, which keeps a snapshot."""
    return resource["Type"] == "AWS::RDS::DBInstance" and "DBClusterIdentifier" in resource.get(
        "Properties", {}
    )


def retention_violations(template: Template) -> list[str]:
    """Every stateful resource (the replacement guard's types) is retained or snapshotted when it
    leaves the stack or is replaced."""
    found = []
    for logical_id, resource in resources_of(template, *STATEFUL_TYPES):
        if _aurora_member(resource):
            continue
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if resource.get(policy) not in RETAINING_POLICIES:
                found.append(
                    f"{logical_id} ({resource['Type']}): {policy} is {resource.get(policy, 'Delete')}"
                )
    return found


def scaling_violations(template: Template) -> list[str]:
    """Every ECS service that autoscales does so by target tracking on average CPU utilisation."""
    policies: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for logical_id, policy in resources_of(template, "AWS::ApplicationAutoScaling::ScalingPolicy"):
        target = policy.get("Properties", {}).get("ScalingTargetId")
        if isinstance(target, dict) and "Ref" in target:
            policies.setdefault(str(target["Ref"]), []).append((logical_id, policy["Properties"]))
    found = []
    for logical_id, target in resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget"):
        if target.get("Properties", {}).get("ScalableDimension") != "ecs:service:DesiredCount":
            continue
        attached = policies.get(logical_id, [])
        if not attached:
            found.append(f"{logical_id}: no scaling policy")
        for policy_id, props in attached:
            tracking = props.get("TargetTrackingScalingPolicyConfiguration") or {}
            metric = (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            if props.get("PolicyType") != "TargetTrackingScaling" or metric != CPU_METRIC:
                shown = metric or json.dumps(tracking.get("CustomizedMetricSpecification")) or "no metric"
                found.append(f"{logical_id}: {policy_id} scales on {shown}, not {CPU_METRIC}")
    return found


INVARIANTS = {
    "bucket policies deny plain HTTP and old TLS and allow nothing to everyone": bucket_policy_violations,
    "service grants carry source-account and source-ARN conditions": service_grant_violations,
    "security group ingress names its source": security_group_violations,
    "containers run non-root with a read-only root": container_violations,
    "log groups are encrypted and expire": log_group_violations,
    "write actions name their resources": write_resource_violations,
    "stateful resources are retained": retention_violations,
    "ECS services scale on CPU": scaling_violations,
}
