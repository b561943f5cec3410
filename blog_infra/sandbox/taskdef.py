"""The containers of a synthesized template, with their values resolved as a deployment would.

`TaskDefinitions(template, ...)` reads every `AWS::ECS::TaskDefinition` of a CloudFormation template
(as `cdk synth` wrote it) and gives each container's image, entry point, command, environment,
secrets (as ECS `valueFrom` references), user, read-only root, tmpfs mounts, health check, stop
timeout and dependencies. Intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
`Fn::Select`, `Fn::Split`) are resolved against deterministic stand-in physical values: the
names and ARNs CloudFormation would give, in the template's account and region. `overrides` replaces
any of them (`"Logical"` for a Ref, `"Logical.Attribute"` for a GetAtt), e.g. a database port.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    """The template holds something the resolver does not know how to resolve."""


@dataclass(frozen=True)
class Tmpfs:
    path: str
    size_mib: int
    options: tuple[str, ...]


@dataclass(frozen=True)
class HealthCheck:
    command: tuple[str, ...]
    interval: int
    timeout: int
    retries: int
    start_period: int


@dataclass(frozen=True)
class SecretReference:
    """An ECS secret: the secret's ARN and, for a JSON secret, the key whose value is injected."""

    arn: str
    json_key: str | None


@dataclass(frozen=True)
class Container:
    task: str
    name: str
    image: str
    entry_point: tuple[str, ...] | None
    command: tuple[str, ...] | None
    environment: Mapping[str, str]
    secrets: Mapping[str, SecretReference]
    user: str | None
    read_only_root: bool
    tmpfs: tuple[Tmpfs, ...]
    health_check: HealthCheck | None
    stop_timeout: int | None
    essential: bool
    depends_on: tuple[tuple[str, str], ...]
    init_process: bool
    dropped_capabilities: tuple[str, ...]
    ports: tuple[int, ...] = field(default=())


_SECRET_ARN = re.compile(r"^(?P<arn>arn:[^:]+:secretsmanager:[^:]*:\d*:secret:[^:]+)(?::(?P<rest>.*))?$")


def parse_secret_reference(value_from: str) -> SecretReference:
    """ECS's `valueFrom` for Secrets Manager: `<secret-arn>[:<json-key>:<version-stage>:<version-id>]`."""
    match = _SECRET_ARN.fullmatch(value_from)
    if match is None:
        raise TemplateError(f"valueFrom {value_from!r} is not a Secrets Manager reference")
    rest = match.group("rest")
    key = rest.split(":")[0] if rest else ""
    return SecretReference(arn=match.group("arn"), json_key=key or None)


def _suffix(logical_id: str) -> str:
    return hashlib.sha256(logical_id.encode()).hexdigest()[:12]


class Resolver:
    """Resolves intrinsic functions against stand-in physical values of the template's resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        account: str,
        region: str,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.account = account
        self.region = region
        self.overrides = dict(overrides or {})

    def _type(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"reference to {logical_id!r}, which is not a resource of the template")
        return str(resource["Type"])

    def _properties(self, logical_id: str) -> Mapping[str, Any]:
        properties: Mapping[str, Any] = self.resources[logical_id].get("Properties", {})
        return properties

    def physical_name(self, logical_id: str, name_property: str | None = None) -> str:
        """The resource's own name property if the template sets one, else a stand-in from its id."""
        if name_property is not None:
            given = self._properties(logical_id).get(name_property)
            if given is not None:
                return str(self.resolve(given))
        return f"{logical_id[:40]}-{_suffix(logical_id)[:8]}"

    def ref(self, logical_id: str) -> str:
        if logical_id in self.overrides:
            return self.overrides[logical_id]
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "sandbox",
            "AWS::NoValue": "",
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        kind = self._type(logical_id)
        suffix = _suffix(logical_id)
        arn_prefix = f"arn:aws:{{service}}:{self.region}:{self.account}"
        if kind == "AWS::SecretsManager::Secret":
            name = self.physical_name(logical_id, "Name")
            return f"{arn_prefix.format(service='secretsmanager')}:secret:{name}-{suffix[:6]}"
        if kind == "AWS::ECS::Cluster":
            return self.physical_name(logical_id, "ClusterName")
        if kind == "AWS::SQS::Queue":
            name = self.physical_name(logical_id, "QueueName")
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}"
        if kind == "AWS::EC2::Subnet":
            return f"subnet-{suffix[:17]}"
        if kind == "AWS::EC2::VPC":
            return f"vpc-{suffix[:17]}"
        if kind == "AWS::EC2::SecurityGroup":
            return f"sg-{suffix[:17]}"
        if kind in ("AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::ECR::Repository", "AWS::Events::Rule"):
            name_property = {
                "AWS::IAM::Role": "RoleName",
                "AWS::Logs::LogGroup": "LogGroupName",
                "AWS::ECR::Repository": "RepositoryName",
                "AWS::Events::Rule": "Name",
            }[kind]
            return self.physical_name(logical_id, name_property)
        return self.physical_name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        key = f"{logical_id}.{attribute}"
        if key in self.overrides:
            return self.overrides[key]
        kind = self._type(logical_id)
        arn_prefix = f"arn:aws:{{service}}:{self.region}:{self.account}"
        if attribute == "Arn":
            if kind == "AWS::ECS::Cluster":
                return f"{arn_prefix.format(service='ecs')}:cluster/{self.ref(logical_id)}"
            if kind == "AWS::IAM::Role":
                return f"arn:aws:iam::{self.account}:role/{self.ref(logical_id)}"
            if kind == "AWS::SQS::Queue":
                return f"{arn_prefix.format(service='sqs')}:{self.physical_name(logical_id, 'QueueName')}"
            if kind == "AWS::Logs::LogGroup":
                return f"{arn_prefix.format(service='logs')}:log-group:{self.ref(logical_id)}:*"
            if kind == "AWS::ECR::Repository":
                return f"{arn_prefix.format(service='ecr')}:repository/{self.ref(logical_id)}"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.physical_name(logical_id, "QueueName")
        if kind == "AWS::EC2::SecurityGroup" and attribute == "GroupId":
            return self.ref(logical_id)
        if kind == "AWS::ElastiCache::ReplicationGroup" and attribute == "PrimaryEndPoint.Address":
            return f"master.{logical_id.lower()}.sandbox.{self.region}.cache.amazonaws.com"
        if kind == "AWS::ElastiCache::ReplicationGroup" and attribute == "PrimaryEndPoint.Port":
            return str(self._properties(logical_id).get("Port", 6379))
        if kind == "AWS::RDS::DBCluster" and attribute == "Endpoint.Address":
            return f"{logical_id.lower()}.cluster-sandbox.{self.region}.rds.amazonaws.com"
        if kind == "AWS::RDS::DBCluster" and attribute == "Endpoint.Port":
            return str(self._properties(logical_id).get("Port", 5432))
        if kind == "AWS::RDS::DBCluster" and attribute == "DBClusterArn":
            return f"{arn_prefix.format(service='rds')}:cluster:{logical_id.lower()}"
        if kind == "AWS::RDS::DBCluster" and attribute == "MasterUserSecret.SecretArn":
            return f"{arn_prefix.format(service='secretsmanager')}:secret:rds!cluster-{_suffix(logical_id)}"
        if kind == "AWS::ECR::Repository" and attribute == "RepositoryUri":
            return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{self.ref(logical_id)}"
        raise TemplateError(f"no stand-in for Fn::GetAtt {logical_id}.{attribute} ({kind})")

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its resolved string."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if function == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(self.resolve(part)) for part in parts)
            if function == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if function == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if function == "Fn::Sub":
                return self._sub(argument)
            if function.startswith("Fn::"):
                raise TemplateError(f"no resolver for {function}")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)


def _strings(values: Any) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(value) for value in values)


def containers(template: Mapping[str, Any], resolver: Resolver) -> dict[str, list[Container]]:
    """Every task definition's containers, by the task definition's logical id, values resolved."""
    result: dict[str, list[Container]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        for raw in resource["Properties"]["ContainerDefinitions"]:
            result.setdefault(logical_id, []).append(_container(logical_id, resolver.resolve(raw)))
    return result


def _pascal(value: Any) -> Any:
    """ECS's API shape (camelCase keys) as CloudFormation writes it (PascalCase): the same names with
    a capital first letter, at every level (`readonlyRootFilesystem`, `linuxParameters.tmpfs`, ...)."""
    if isinstance(value, list):
        return [_pascal(item) for item in value]
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal(item) for key, item in value.items()}
    return value


def api_containers(task_definition: Mapping[str, Any]) -> list[Container]:
    """The containers of a registered task definition, as DescribeTaskDefinition returns it."""
    arn = str(task_definition["taskDefinitionArn"])
    return [_container(arn, _pascal(raw)) for raw in task_definition["containerDefinitions"]]


def _container(task: str, definition: Mapping[str, Any]) -> Container:
    linux = definition.get("LinuxParameters", {})
    health = definition.get("HealthCheck")
    return Container(
        task=task,
        name=definition["Name"],
        image=str(definition["Image"]),
        entry_point=_strings(definition.get("EntryPoint")),
        command=_strings(definition.get("Command")),
        environment={item["Name"]: str(item["Value"]) for item in definition.get("Environment", [])},
        secrets={
            item["Name"]: parse_secret_reference(str(item["ValueFrom"]))
            for item in definition.get("Secrets", [])
        },
        user=definition.get("User"),
        read_only_root=bool(definition.get("ReadonlyRootFilesystem", False)),
        tmpfs=tuple(
            Tmpfs(
                path=mount["ContainerPath"],
                size_mib=int(mount["Size"]),
                options=tuple(mount.get("MountOptions", ())),
            )
            for mount in linux.get("Tmpfs", [])
        ),
        health_check=None
        if health is None
        else HealthCheck(
            command=tuple(health["Command"]),
            interval=int(health.get("Interval", 30)),
            timeout=int(health.get("Timeout", 5)),
            retries=int(health.get("Retries", 3)),
            start_period=int(health.get("StartPeriod", 0)),
        ),
        stop_timeout=definition.get("StopTimeout"),
        essential=bool(definition.get("Essential", True)),
        depends_on=tuple(
            (item["ContainerName"], item["Condition"]) for item in definition.get("DependsOn", [])
        ),
        init_process=bool(linux.get("InitProcessEnabled", False)),
        dropped_capabilities=tuple(linux.get("Capabilities", {}).get("Drop", ())),
        ports=tuple(int(port["ContainerPort"]) for port in definition.get("PortMappings", [])),
    )
