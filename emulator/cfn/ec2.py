"""EC2 networking.

``SecurityGroup``, ``SecurityGroupIngress`` and ``SecurityGroupEgress`` are our own (moto ignored
inline egress rules, failed on rules without ports and on CidrIp, and had no egress type). The
others keep moto's create and add the deletion moto lacks, so that a stack's network can be
destroyed.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.elastic_ip_addresses import ElasticAddress as MotoElasticAddress
from moto.ec2.models.flow_logs import FlowLogs as MotoFlowLogs
from moto.ec2.models.internet_gateways import InternetGateway as MotoInternetGateway
from moto.ec2.models.nat_gateways import NatGateway as MotoNatGateway
from moto.ec2.models.route_tables import Route as MotoRoute
from moto.ec2.models.route_tables import RouteTable as MotoRouteTable
from moto.ec2.models.security_groups import SecurityGroup as SecurityGroupModel
from moto.ec2.models.subnets import SubnetRouteTableAssociation as MotoSubnetRouteTableAssociation
from moto.ec2.models.vpcs import VPCEndPoint as MotoVPCEndPoint
from moto.ec2.models.vpn_gateway import VPCGatewayAttachment as MotoVPCGatewayAttachment

from emulator.cfn._base import MotoDelegate, Resource, ResourceError, properties_of, tag_dict


def _ec2(account_id: str, region_name: str) -> EC2Backend:
    return ec2_backends[account_id][region_name]


def _rule_arguments(rule: dict[str, Any], egress: bool) -> dict[str, Any]:
    """A CloudFormation security group rule as arguments of moto's authorize/revoke calls."""
    protocol = str(rule.get("IpProtocol", "-1"))
    if protocol.lower() in ("all", "-1"):
        protocol = "-1"
    description = rule.get("Description")
    ip_ranges: list[dict[str, Any]] = []
    if rule.get("CidrIp"):
        ip_ranges.append({"CidrIp": rule["CidrIp"], **({"Description": description} if description else {})})
    if rule.get("CidrIpv6"):
        ip_ranges.append(
            {"CidrIpv6": rule["CidrIpv6"], **({"Description": description} if description else {})}
        )
    group_key = "DestinationSecurityGroupId" if egress else "SourceSecurityGroupId"
    source_groups: list[dict[str, Any]] = []
    if rule.get(group_key):
        source_groups.append(
            {"GroupId": rule[group_key], **({"Description": description} if description else {})}
        )
    if not egress and rule.get("SourceSecurityGroupName"):
        source_groups.append({"GroupName": rule["SourceSecurityGroupName"]})
    prefix_key = "DestinationPrefixListId" if egress else "SourcePrefixListId"
    prefix_lists = [{"PrefixListId": rule[prefix_key]}] if rule.get(prefix_key) else []
    if not (ip_ranges or source_groups or prefix_lists):
        raise ResourceError("a security group rule needs a CIDR, a security group or a prefix list")
    has_ports = protocol != "-1"
    return {
        "ip_protocol": protocol,
        "from_port": str(rule.get("FromPort", -1)) if has_ports else None,
        "to_port": str(rule.get("ToPort", -1)) if has_ports else None,
        "ip_ranges": ip_ranges,
        "source_groups": source_groups,
        "prefix_list_ids": prefix_lists,
    }


def _group(backend: EC2Backend, group_id: str) -> SecurityGroupModel:
    group = backend.get_security_group_by_name_or_id(group_id)
    if group is None:
        raise ResourceError(f"security group {group_id} not found")
    return group


def _authorize(backend: EC2Backend, group_id: str, rule: dict[str, Any], egress: bool) -> list[str]:
    arguments = _rule_arguments(rule, egress)
    call = backend.authorize_security_group_egress if egress else backend.authorize_security_group_ingress
    rules, _ = call(group_name_or_id=group_id, **arguments)
    return [r.id for r in rules]


def _revoke(backend: EC2Backend, group_id: str, rule_ids: list[str], egress: bool) -> None:
    group = backend.get_security_group_by_name_or_id(group_id)
    if group is None:
        return
    existing = {r.id for r in (group.egress_rules if egress else group.ingress_rules)}
    rule_ids = [rule_id for rule_id in rule_ids if rule_id in existing]
    if not rule_ids:
        return
    call = backend.revoke_security_group_egress if egress else backend.revoke_security_group_ingress
    call(
        group_name_or_id=group_id,
        ip_protocol="",
        from_port="",
        to_port="",
        ip_ranges=[],
        security_rule_ids=rule_ids,
    )


class SecurityGroup(Resource, CloudFormationModel):
    """``AWS::EC2::SecurityGroup`` with inline ingress and egress rules applied as AWS does: the
    default allow-all egress rule is replaced when the template lists egress rules."""

    rule_ids: dict[str, list[str]]

    @staticmethod
    def cloudformation_name_type() -> str:
        return "GroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("GroupId", "VpcId")

    def attributes(self) -> dict[str, Any]:
        return {"GroupId": self.physical_id, "VpcId": self.properties.get("VpcId", "")}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SecurityGroup:
        props = properties_of(cloudformation_json)
        backend = _ec2(account_id, region_name)
        group = backend.create_security_group(
            name=str(props.get("GroupName") or resource_name),
            description=str(props.get("GroupDescription") or ""),
            vpc_id=props.get("VpcId"),
            tags=tag_dict(props.get("Tags")),
        )
        resource = cls(group.id, account_id, region_name, {})
        resource._apply_rules(props, initial=True)
        return resource

    def _apply_rules(self, props: dict[str, Any], initial: bool = False) -> None:
        backend = _ec2(self.account_id, self.region_name)
        if initial:
            group = _group(backend, self.physical_id)
            self.rule_ids = {"ingress": [], "egress": [rule.id for rule in group.egress_rules]}
        for direction, egress in (("ingress", False), ("egress", True)):
            key = "SecurityGroupEgress" if egress else "SecurityGroupIngress"
            rules = [dict(rule) for rule in props.get(key) or []]
            if egress and key not in props:
                if initial:
                    continue
                rules = [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}]
            _revoke(backend, self.physical_id, self.rule_ids[direction], egress)
            self.rule_ids[direction] = []
            for rule in rules:
                self.rule_ids[direction] += _authorize(backend, self.physical_id, rule, egress)
        self.properties = props

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if properties.get("VpcId") != self.properties.get("VpcId") or properties.get(
            "GroupDescription"
        ) != self.properties.get("GroupDescription"):
            replacement = SecurityGroup.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        group: Any = _group(_ec2(self.account_id, self.region_name), self.physical_id)
        group.tags = {}
        for key, value in tag_dict(properties.get("Tags")).items():
            group.add_tag(key, value)
        self._apply_rules(properties)
        return self

    def delete_resource(self) -> None:
        backend = _ec2(self.account_id, self.region_name)
        if backend.get_security_group_by_name_or_id(self.physical_id) is not None:
            backend.delete_security_group(group_id=self.physical_id)


class _SecurityGroupRuleResource(Resource):
    EGRESS = False
    group_id: str
    rule_ids: list[str]

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def attributes(self) -> dict[str, Any]:
        return {"Id": self.physical_id}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        props = properties_of(cloudformation_json)
        backend = _ec2(account_id, region_name)
        group_id = props.get("GroupId")
        if not group_id and props.get("GroupName"):
            group = backend.get_security_group_by_name_or_id(str(props["GroupName"]))
            group_id = group.id if group is not None else None
        if not group_id:
            raise ResourceError("the rule needs GroupId")
        rule_ids = _authorize(backend, str(group_id), props, cls.EGRESS)
        resource = cls(rule_ids[0] if rule_ids else "", account_id, region_name, props)
        resource.group_id = str(group_id)
        resource.rule_ids = rule_ids
        return resource

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.delete_resource()
        replacement: Resource = type(self).create_from_cloudformation_json(
            new_resource_name, {"Properties": properties}, self.account_id, self.region_name
        )
        return replacement

    def delete_resource(self) -> None:
        _revoke(_ec2(self.account_id, self.region_name), self.group_id, self.rule_ids, self.EGRESS)


class SecurityGroupIngress(_SecurityGroupRuleResource, CloudFormationModel):
    """``AWS::EC2::SecurityGroupIngress``; moto's version could not be deleted and its Ref was an object."""

    EGRESS = False

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupIngress"


class SecurityGroupEgress(_SecurityGroupRuleResource, CloudFormationModel):
    """``AWS::EC2::SecurityGroupEgress``, missing in moto."""

    EGRESS = True

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupEgress"


class RouteTable(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::RouteTable``: moto's create, plus deletion."""

    MOTO_MODEL = MotoRouteTable

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::RouteTable"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        _ec2(account_id, region_name).delete_route_table(resource.id)


class Route(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::Route``: moto's create, plus deletion."""

    MOTO_MODEL = MotoRoute

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::Route"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        if resource.route_table.id not in backend.route_tables:
            return
        backend.delete_route(
            resource.route_table.id,
            resource.destination_cidr_block,
            resource.destination_ipv6_cidr_block,
            resource.destination_prefix_list.id if resource.destination_prefix_list else None,
        )


class NatGateway(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::NatGateway``: moto's create, plus deletion (it then shows as ``deleted``, as on AWS)."""

    MOTO_MODEL = MotoNatGateway

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::NatGateway"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        _ec2(account_id, region_name).delete_nat_gateway(resource.id)


class ElasticIp(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::EIP``: moto's create, plus release."""

    MOTO_MODEL = MotoElasticAddress

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::EIP"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        if resource in backend.addresses:
            backend.release_address(address=resource.public_ip)


class InternetGateway(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::InternetGateway``: moto's create, plus deletion."""

    MOTO_MODEL = MotoInternetGateway

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::InternetGateway"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        if resource.id in backend.internet_gateways:
            backend.delete_internet_gateway(resource.id)


class VpcGatewayAttachment(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::VPCGatewayAttachment``: moto's create, plus detaching the gateway."""

    MOTO_MODEL = MotoVPCGatewayAttachment

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::VPCGatewayAttachment"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        gateway_id = str(resource.gateway_id)
        if gateway_id.startswith("igw-"):
            gateway = backend.internet_gateways.get(gateway_id)
            if gateway is not None and gateway.vpc is not None:
                backend.detach_internet_gateway(gateway_id, resource.vpc_id)
        else:
            backend.detach_vpn_gateway(gateway_id, resource.vpc_id)


class VpcEndpoint(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::VPCEndpoint``: moto's create, plus deletion."""

    MOTO_MODEL = MotoVPCEndPoint

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::VPCEndpoint"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        endpoint = backend.vpc_end_points.get(resource.id)
        if endpoint is not None and endpoint.state != "deleted":
            backend.delete_vpc_endpoints([resource.id])


class FlowLog(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::FlowLog``: moto's create, plus deletion."""

    MOTO_MODEL = MotoFlowLogs

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::FlowLog"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        if resource.id in backend.flow_logs:
            backend.delete_flow_logs([resource.id])


class SubnetRouteTableAssociation(MotoDelegate, CloudFormationModel):
    """``AWS::EC2::SubnetRouteTableAssociation``: moto's create, plus disassociation."""

    MOTO_MODEL = MotoSubnetRouteTableAssociation

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SubnetRouteTableAssociation"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        table = backend.route_tables.get(resource.route_table_id)
        if table is None:
            return
        for association_id, target in list(table._associations.items()):
            if target == resource.subnet_id:
                backend.disassociate_route_table(association_id)


def install_vpc_attributes() -> None:
    """moto's `AWS::EC2::VPC` ignores `EnableDnsHostnames` and `EnableDnsSupport` (its VPC keeps
    hostnames off); CloudFormation applies both (ModifyVpcAttribute). Without hostnames, an awsvpc
    task's network interface has no private DNS name, and moto's RunTask fails on it (an HTTP 500).
    The wrapper applies them after moto's create (idempotent)."""
    from moto.ec2.models.vpcs import VPC

    original = VPC.create_from_cloudformation_json
    if getattr(original, "_applies_dns_attributes", False):
        return

    def create(
        cls: Any,
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        vpc = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)  # type: ignore[attr-defined]
        properties = cloudformation_json.get("Properties", {})
        for attribute, name in (
            ("EnableDnsSupport", "enable_dns_support"),
            ("EnableDnsHostnames", "enable_dns_hostnames"),
        ):
            if attribute in properties:
                value = properties[attribute]
                setattr(vpc, name, str(value).lower() == "true")
        return vpc

    create._applies_dns_attributes = True  # type: ignore[attr-defined]
    setattr(VPC, "create_from_cloudformation_json", classmethod(create))  # noqa: B010
