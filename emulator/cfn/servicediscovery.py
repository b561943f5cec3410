"""Cloud Map: ``PrivateDnsNamespace`` and ``Service`` (ECS service discovery), missing in moto's
CloudFormation."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.servicediscovery.models import ServiceDiscoveryBackend, servicediscovery_backends

from emulator.cfn._base import Resource, ResourceError, properties_of, random_suffix, tag_list


def _backend(account_id: str, region_name: str) -> ServiceDiscoveryBackend:
    return servicediscovery_backends[account_id][region_name]


class PrivateDnsNamespace(Resource, CloudFormationModel):
    """``AWS::ServiceDiscovery::PrivateDnsNamespace``; Ref and ``Id`` give the namespace id."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceDiscovery::PrivateDnsNamespace"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "Arn", "HostedZoneId")

    def attributes(self) -> dict[str, Any]:
        namespace = _backend(self.account_id, self.region_name).get_namespace(self.physical_id)
        return {
            "Id": namespace.id,
            "Arn": namespace.arn,
            "HostedZoneId": namespace.dns_properties.get("HostedZoneId", ""),
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> PrivateDnsNamespace:
        props = properties_of(cloudformation_json)
        if not props.get("Name") or not props.get("Vpc"):
            raise ResourceError("PrivateDnsNamespace needs Name and Vpc")
        backend = _backend(account_id, region_name)
        backend.create_private_dns_namespace(
            name=str(props["Name"]),
            creator_request_id=random_suffix(),
            description=str(props.get("Description") or ""),
            vpc=str(props["Vpc"]),
            tags=tag_list(props.get("Tags")),
            properties=dict(props.get("Properties") or {}),
        )
        namespace = next(n for n in backend.namespaces.values() if n.vpc == str(props["Vpc"]))
        return cls(namespace.id, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if any(properties.get(k) != self.properties.get(k) for k in ("Name", "Vpc")):
            self.delete_resource()
            return PrivateDnsNamespace.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
        namespace = _backend(self.account_id, self.region_name).get_namespace(self.physical_id)
        namespace.description = str(properties.get("Description") or "")
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        backend = _backend(self.account_id, self.region_name)
        if self.physical_id in backend.namespaces:
            backend.delete_namespace(self.physical_id)


class Service(Resource, CloudFormationModel):
    """``AWS::ServiceDiscovery::Service``; Ref and ``Id`` give the service id, ``Arn`` its ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceDiscovery::Service"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "Arn", "Name")

    def attributes(self) -> dict[str, Any]:
        service = _backend(self.account_id, self.region_name).get_service(self.physical_id)
        return {"Id": service.id, "Arn": service.arn, "Name": service.name}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Service:
        props = properties_of(cloudformation_json)
        dns_config = dict(props.get("DnsConfig") or {})
        namespace_id = props.get("NamespaceId") or dns_config.get("NamespaceId")
        service = _backend(account_id, region_name).create_service(
            name=str(props.get("Name") or resource_name),
            namespace_id=str(namespace_id),
            creator_request_id=random_suffix(),
            description=str(props.get("Description") or ""),
            dns_config=dns_config,
            health_check_config=dict(props.get("HealthCheckConfig") or {}),
            health_check_custom_config=dict(props.get("HealthCheckCustomConfig") or {}),
            tags=tag_list(props.get("Tags")),
            service_type=str(props.get("Type") or ("DNS_HTTP" if dns_config else "HTTP")),
        )
        return cls(service.id, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        keys = ("Name", "NamespaceId", "HealthCheckCustomConfig")
        if any(properties.get(k) != self.properties.get(k) for k in keys):
            self.delete_resource()
            return Service.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
        service = _backend(self.account_id, self.region_name).get_service(self.physical_id)
        service.description = str(properties.get("Description") or "")
        service.dns_config = dict(properties.get("DnsConfig") or {})
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        _backend(self.account_id, self.region_name).delete_service(self.physical_id)
