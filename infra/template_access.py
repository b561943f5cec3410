"""Who may read what in a synthesized template: its roles, their identity policies, the resource
policies of its buckets, secrets and KMS keys, resolved to concrete ARNs for a fixed account and region
(`infra.cfn_intrinsics`) and decided by `aws_policy.evaluation`.

A read is what a consumer does with a contract value: `ssm:GetParameter` on the parameter, then
`secretsmanager:GetSecretValue` on a secret together with `kms:Decrypt` on its key when the secret uses
a customer-managed key ("If the secret is encrypted using a customer-managed key instead of the AWS
managed key aws/secretsmanager, then you also need kms:Decrypt permissions for that key": Secrets
Manager API Reference, GetSecretValue), or `s3:ListBucket` on a bucket and `s3:GetObject` on its
objects (or only on objects under a key prefix).

The KMS request is evaluated with `kms:ViaService` = `secretsmanager.<region>.amazonaws.com`,
`kms:CallerAccount` and the secret's ARN as `kms:EncryptionContext:SecretARN`: the decrypt happens
through Secrets Manager on the caller's behalf. Those context values are this walk's model, not quoted
from a page we found; no key policy of ours conditions on the encryption context, and CDK's grants
condition on `kms:ViaService`, which the model sets as Secrets Manager does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aws_policy.evaluation import Decision, NotEvaluated, Request, evaluate
from infra.cfn_intrinsics import Intrinsics, Place

AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    # Copied from the AWS Managed Policy Reference (docs.aws.amazon.com/aws-managed-policy/latest/
    # reference/<name>.html, version v1 of each): CloudWatch Logs writes only.
    "AWSLambdaBasicExecutionRole": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ]
    },
    "AmazonRDSEnhancedMonitoringRole": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                "Resource": ["arn:aws:logs:*:*:log-group:RDS*"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                    "logs:GetLogEvents",
                ],
                "Resource": ["arn:aws:logs:*:*:log-group:RDS*:log-stream:*"],
            },
        ]
    },
}
_HASH = re.compile(r"[0-9A-F]{8}$")


@dataclass(frozen=True)
class Role:
    logical_id: str
    key: str
    """How the ownership map names it: the role name after `<stack>-`, or the logical id without CDK's
    hash for roles CloudFormation names."""
    arn: str
    policies: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Step:
    """One API call of a read and its decision."""

    action: str
    resource: str
    decision: Decision

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}: {self.decision.value}"


class TemplateAccess:
    """The roles and resource policies of one template."""

    def __init__(self, template: Mapping[str, Any], place: Place) -> None:
        self.template = template
        self.place = place
        self.intrinsics = Intrinsics(template, place)
        self.resources: Mapping[str, Any] = template["Resources"]

    def _of_type(self, kind: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == kind:
                yield logical_id, resource.get("Properties", {}) or {}

    @cached_property
    def roles(self) -> dict[str, Role]:
        """Every role of the template, by its key."""
        attached: dict[str, list[Mapping[str, Any]]] = {}
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for logical_id, props in self._of_type(kind):
                for role in props.get("Roles") or []:
                    attached.setdefault(role["Ref"], []).append(
                        self.intrinsics.resolve(props["PolicyDocument"])
                    )
                if kind == "AWS::IAM::Policy" and (props.get("Users") or props.get("Groups")):
                    raise NotEvaluated(f"{logical_id}: policies of users or groups are not walked")
        managed = {
            self.intrinsics.resolve({"Ref": lid}): self.intrinsics.resolve(props["PolicyDocument"])
            for lid, props in self._of_type("AWS::IAM::ManagedPolicy")
        }
        roles = {}
        prefix = f"{self.place.stack_name}-"
        for logical_id, props in self._of_type("AWS::IAM::Role"):
            policies = [self.intrinsics.resolve(p["PolicyDocument"]) for p in props.get("Policies") or []]
            policies += attached.get(logical_id, [])
            for arn in self.intrinsics.resolve(props.get("ManagedPolicyArns") or []):
                name = str(arn).rsplit("/", 1)[-1]
                if ":iam::aws:policy/" in str(arn) and name in AWS_MANAGED_POLICIES:
                    policies.append(AWS_MANAGED_POLICIES[name])
                elif arn in managed:
                    policies.append(managed[arn])
                else:
                    raise NotEvaluated(f"{logical_id}: managed policy {arn} is not known to the walk")
            role_name = props.get("RoleName")
            key = role_name.removeprefix(prefix) if isinstance(role_name, str) else _HASH.sub("", logical_id)
            roles[key] = Role(logical_id, key, self.intrinsics.get_att(logical_id, "Arn"), tuple(policies))
        return roles

    def _resource_policy(self, kind: str, target_prop: str, logical_id: str) -> Mapping[str, Any] | None:
        documents = [
            self.intrinsics.resolve(props.get("PolicyDocument") or props.get("ResourcePolicy"))
            for _, props in self._of_type(kind)
            if props.get(target_prop) == {"Ref": logical_id}
        ]
        if not documents:
            return None
        return {"Statement": [s for d in documents for s in d.get("Statement", [])]}

    def _request(self, role: Role, action: str, resource: str, **context: str) -> Request:
        base = {
            "aws:SecureTransport": "true",
            "s3:TlsVersion": "1.3",
            "aws:PrincipalArn": role.arn,
            "aws:PrincipalAccount": self.place.account,
            "aws:PrincipalIsAWSService": "false",
        }
        return Request(role.arn, action, resource, {**base, **context})

    def read_parameter(self, role: Role, name: str) -> list[Step]:
        arn = f"arn:aws:ssm:{self.place.region}:{self.place.account}:parameter{name}"
        return [
            Step(
                "ssm:GetParameter",
                name,
                evaluate(self._request(role, "ssm:GetParameter", arn), role.policies),
            )
        ]

    def read_secret(self, role: Role, logical_id: str) -> list[Step]:
        arn = str(self.intrinsics.ref(logical_id))
        policy = self._resource_policy("AWS::SecretsManager::ResourcePolicy", "SecretId", logical_id)
        request = self._request(role, "secretsmanager:GetSecretValue", arn)
        steps = [Step("secretsmanager:GetSecretValue", logical_id, evaluate(request, role.policies, policy))]
        key = self.resources[logical_id]["Properties"].get("KmsKeyId")
        if key is None:
            # aws/secretsmanager: no kms:Decrypt permission is needed (GetSecretValue API reference).
            return steps
        key_id = self._key_logical_id(key)
        key_arn = str(self.intrinsics.get_att(key_id, "Arn"))
        decrypt = self._request(
            role,
            "kms:Decrypt",
            key_arn,
            **{
                "kms:ViaService": f"secretsmanager.{self.place.region}.amazonaws.com",
                "kms:CallerAccount": self.place.account,
                "kms:EncryptionContext:SecretARN": arn,
            },
        )
        key_policy = self.intrinsics.resolve(self.resources[key_id]["Properties"]["KeyPolicy"])
        steps.append(
            Step("kms:Decrypt", key_id, evaluate(decrypt, role.policies, key_policy, key_policy=True))
        )
        return steps

    def _key_logical_id(self, reference: Any) -> str:
        if isinstance(reference, Mapping) and "Fn::GetAtt" in reference:
            return str(reference["Fn::GetAtt"][0])
        if isinstance(reference, Mapping) and "Ref" in reference:
            return str(reference["Ref"])
        raise NotEvaluated(f"KMS key reference {reference!r} is not walked")

    def read_bucket(self, role: Role, logical_id: str, prefix: str | None = None) -> list[Step]:
        """List and read every object, or only read objects under `prefix`."""
        bucket_arn = str(self.intrinsics.get_att(logical_id, "Arn"))
        policy = self._resource_policy("AWS::S3::BucketPolicy", "Bucket", logical_id)
        key = f"{prefix or ''}any/object"
        get = self._request(role, "s3:GetObject", f"{bucket_arn}/{key}")
        steps = [Step("s3:GetObject", f"{logical_id}/{key}", evaluate(get, role.policies, policy))]
        if prefix is None:
            listing = self._request(role, "s3:ListBucket", bucket_arn)
            steps.insert(0, Step("s3:ListBucket", logical_id, evaluate(listing, role.policies, policy)))
        return steps

    def object_samples(self, role: Role, logical_id: str) -> list[str]:
        """Keys to try when asking whether `role` can read any object of a bucket: one per object
        pattern of its policies and of the bucket policy (wildcards filled in), and a neutral key."""
        bucket_arn = str(self.intrinsics.get_att(logical_id, "Arn"))
        policy = self._resource_policy("AWS::S3::BucketPolicy", "Bucket", logical_id)
        patterns = [
            str(resource)
            for document in (*role.policies, policy or {})
            for statement in document.get("Statement", [])
            if statement.get("Effect") == "Allow"
            for resource in (
                statement.get("Resource")
                if isinstance(statement.get("Resource"), list)
                else [statement.get("Resource")]
            )
            if isinstance(resource, str) and resource.startswith(f"{bucket_arn}/")
        ]
        keys = {re.sub(r"[*?]", "x", pattern.removeprefix(f"{bucket_arn}/")) for pattern in patterns}
        return sorted(keys | {"any/object"})

    def can_read_any_object(self, role: Role, logical_id: str) -> str | None:
        """A key under which `role` may get objects of the bucket, or None."""
        bucket_arn = str(self.intrinsics.get_att(logical_id, "Arn"))
        policy = self._resource_policy("AWS::S3::BucketPolicy", "Bucket", logical_id)
        for key in self.object_samples(role, logical_id):
            request = self._request(role, "s3:GetObject", f"{bucket_arn}/{key}")
            if evaluate(request, role.policies, policy) is Decision.ALLOW:
                return key
        return None

    def secrets(self) -> list[str]:
        return [lid for lid, _ in self._of_type("AWS::SecretsManager::Secret")]

    def buckets(self) -> list[str]:
        return [lid for lid, _ in self._of_type("AWS::S3::Bucket")]

    def parameters(self) -> dict[str, Mapping[str, Any]]:
        """SSM parameters by name, with their template value."""
        return {str(props["Name"]): props["Value"] for _, props in self._of_type("AWS::SSM::Parameter")}

    def target_of(self, value: Any) -> tuple[str, str] | None:
        """(`secret` | `bucket`, logical id) when a parameter's value is a secret's ARN or a bucket's name."""
        if isinstance(value, Mapping) and "Ref" in value and value["Ref"] in self.resources:
            kind = self.resources[value["Ref"]]["Type"]
            if kind == "AWS::SecretsManager::Secret":
                return "secret", str(value["Ref"])
            if kind == "AWS::SecretsManager::SecretTargetAttachment":
                return "secret", str(self.resources[value["Ref"]]["Properties"]["SecretId"]["Ref"])
            if kind == "AWS::S3::Bucket":
                return "bucket", str(value["Ref"])
        return None


def allowed(steps: list[Step]) -> bool:
    return all(step.decision is Decision.ALLOW for step in steps)
