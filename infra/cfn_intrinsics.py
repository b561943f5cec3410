"""A synthesized template's intrinsic functions resolved to concrete values, for a fixed account and
region, the way CloudFormation would name what it creates (a fact about AWS, shared by the tests and,
later, the emulator).

Physical names follow the resource's own name property when the template sets one, else a
deterministic stand-in for the name CloudFormation generates (`<stack>-<logical id>-<suffix>`); the
ARN formats are those of each service's reference ("Resource types defined by ...", Service
Authorization Reference). Only what our templates use is implemented: `Ref`, `Fn::GetAtt`, `Fn::Join`,
`Fn::Sub`, `Fn::Select`, `Fn::Split` and the pseudo parameters; anything else raises
`UnresolvableError` naming the function, so a new construct cannot be silently misread.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvableError(Exception):
    """An intrinsic, a resource type or an attribute this resolver does not know, in one line."""


@dataclass(frozen=True)
class Place:
    account: str = "111111111111"
    region: str = "us-east-1"
    partition: str = "aws"
    stack_name: str = "Stack"


def _suffix(logical_id: str, length: int = 12) -> str:
    return hashlib.sha256(logical_id.encode()).hexdigest()[:length].upper()


class Intrinsics:
    """Resolves the values of one template."""

    def __init__(self, template: Mapping[str, Any], place: Place = Place()) -> None:
        self.template = template
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.place = place

    # --- physical ids -------------------------------------------------------------------------------

    def _props(self, logical_id: str) -> Mapping[str, Any]:
        return self.resources[logical_id].get("Properties", {}) or {}

    def _named(self, logical_id: str, prop: str, *, lower: bool = False, max_length: int = 64) -> str:
        given = self._props(logical_id).get(prop)
        if given is not None:
            return str(self.resolve(given))
        name = f"{self.place.stack_name}-{logical_id}"[: max_length - 13] + "-" + _suffix(logical_id)
        return name.lower() if lower else name

    def _secret_arn(self, logical_id: str) -> str:
        name = self._named(logical_id, "Name")
        # Secrets Manager appends a hyphen and six random characters to a secret's ARN.
        return f"{self._arn('secretsmanager')}:secret:{name}-{_suffix(logical_id, 6)}"

    def _arn(self, service: str, *, regional: bool = True) -> str:
        place = self.place
        region = place.region if regional else ""
        account = place.account if service != "s3" else ""
        return f"arn:{place.partition}:{service}:{region}:{account}"

    def ref(self, logical_id: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.place.account,
            "AWS::Region": self.place.region,
            "AWS::Partition": self.place.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.place.stack_name,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        parameters = self.template.get("Parameters", {})
        if logical_id in parameters:
            if "Default" not in parameters[logical_id]:
                raise UnresolvableError(f"parameter {logical_id} has no default to resolve")
            return parameters[logical_id]["Default"]
        if logical_id not in self.resources:
            raise UnresolvableError(f"Ref to {logical_id}, which the template does not define")
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::IAM::Role":
            return self._named(logical_id, "RoleName")
        if kind == "AWS::IAM::ManagedPolicy":
            return f"{self._arn('iam', regional=False)}:policy/{self._named(logical_id, 'ManagedPolicyName')}"
        if kind == "AWS::S3::Bucket":
            return self._named(logical_id, "BucketName", lower=True, max_length=63)
        if kind == "AWS::SecretsManager::Secret":
            return self._secret_arn(logical_id)
        if kind == "AWS::SecretsManager::SecretTargetAttachment":
            return self.resolve(self._props(logical_id)["SecretId"])
        if kind == "AWS::KMS::Key":
            digest = hashlib.sha256(logical_id.encode()).hexdigest()
            return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        if kind == "AWS::SSM::Parameter":
            return self._named(logical_id, "Name")
        if kind == "AWS::Lambda::Function":
            return self._named(logical_id, "FunctionName")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.place.region}.amazonaws.com/{self.place.account}/{self._queue(logical_id)}"
        if kind == "AWS::Logs::LogGroup":
            return self._named(logical_id, "LogGroupName", max_length=512)
        if kind == "AWS::ECR::Repository":
            return self._named(logical_id, "RepositoryName", lower=True)
        if kind == "AWS::ECS::Cluster":
            return self._named(logical_id, "ClusterName")
        # Types whose Ref is an ARN or an opaque id: a stable stand-in is enough for policy evaluation.
        return f"{logical_id}-{_suffix(logical_id, 8).lower()}"

    def _queue(self, logical_id: str) -> str:
        return self._named(logical_id, "QueueName", max_length=80)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            raise UnresolvableError(f"Fn::GetAtt on {logical_id}, which the template does not define")
        kind = self.resources[logical_id]["Type"]
        place = self.place
        if attribute == "Arn":
            if kind == "AWS::IAM::Role":
                return f"{self._arn('iam', regional=False)}:role/{self.ref(logical_id)}"
            if kind == "AWS::S3::Bucket":
                return f"arn:{place.partition}:s3:::{self.ref(logical_id)}"
            if kind == "AWS::KMS::Key":
                return f"{self._arn('kms')}:key/{self.ref(logical_id)}"
            if kind == "AWS::Lambda::Function":
                return f"{self._arn('lambda')}:function:{self.ref(logical_id)}"
            if kind == "AWS::SQS::Queue":
                return f"{self._arn('sqs')}:{self._queue(logical_id)}"
            if kind == "AWS::Logs::LogGroup":
                return f"{self._arn('logs')}:log-group:{self.ref(logical_id)}:*"
            if kind == "AWS::ECR::Repository":
                return f"{self._arn('ecr')}:repository/{self.ref(logical_id)}"
            if kind == "AWS::ECS::Cluster":
                return f"{self._arn('ecs')}:cluster/{self.ref(logical_id)}"
            if kind == "AWS::SNS::Topic":
                return f"{self._arn('sns')}:{logical_id}"
            if kind == "AWS::IAM::OIDCProvider":
                return f"{self._arn('iam', regional=False)}:oidc-provider/{logical_id}"
        if kind == "AWS::SecretsManager::Secret" and attribute == "Id":
            return self._secret_arn(logical_id)
        if kind == "AWS::S3::Bucket" and attribute in ("DomainName", "RegionalDomainName"):
            return f"{self.ref(logical_id)}.s3.{place.region}.amazonaws.com"
        # Any other attribute: a stand-in that names where it came from.
        return f"{logical_id}.{attribute}"

    # --- values -------------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its concrete value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::GetAtt":
                parts = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.get_att(str(parts[0]), str(self.resolve(parts[1])))
            if key == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self.resolve(items))
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key.startswith("Fn::") or key == "Condition":
                raise UnresolvableError(
                    f"{key} is not resolved here (only Ref, GetAtt, Join, Sub, Select, Split)"
                )
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(item) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")
