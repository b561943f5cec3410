"""The VPC every AWS service of the platform runs in."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.aws_facts import is_zone_id


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    """Inputs of the network module."""

    zone_ids: tuple[str, ...]
    """Availability zones to span, by zone id (`use1-az1`): an id is the same physical zone in every
    account, while a zone name (`us-east-1a`) maps to a different zone in each account. The subnets
    carry `AvailabilityZoneId`, so synthesis needs no AWS lookup and no account's name mapping."""
    cidr: str = "10.40.0.0/16"
    """IPv4 CIDR of the VPC."""
    nat_gateways: int = 1
    """NAT gateways; 0 makes the application subnets isolated (no internet egress)."""
    flow_log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS
    """How long VPC flow logs are kept."""
    log_encryption_key: kms.IKey | None = None
    """KMS key that encrypts the flow-log group; None: CloudWatch's own key."""


class Network(Construct):
    """VPC with public, application (private) and isolated (data) subnets, S3 gateway endpoint and
    flow logs; the default security group admits nothing, and nothing gets a public IP unasked (the
    public subnets hold only the NAT gateways, whose addresses are Elastic IPs)."""

    PUBLIC = "public"
    APPLICATION = "application"
    DATA = "data"

    def __init__(self, scope: Construct, id: str, *, props: NetworkProps) -> None:
        super().__init__(scope, id)
        if len(props.zone_ids) < 2 or len(set(props.zone_ids)) != len(props.zone_ids):
            raise ValueError("Network needs at least two distinct availability zones")
        not_ids = [zone for zone in props.zone_ids if not is_zone_id(zone)]
        if not_ids:
            raise ValueError(f"Network zone_ids {', '.join(not_ids)} are not zone ids such as use1-az1")
        if props.nat_gateways > len(props.zone_ids):
            raise ValueError("Network cannot have more NAT gateways than availability zones")

        application_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if props.nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
        )
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=props.flow_log_retention,
            encryption_key=props.log_encryption_key,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(props.cidr),
            # CDK lays the subnets out per zone name; the ids stand in for the names, and each
            # subnet then names its zone by id instead (below).
            availability_zones=list(props.zone_ids),
            nat_gateways=props.nat_gateways,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=self.PUBLIC,
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(name=self.APPLICATION, subnet_type=application_type, cidr_mask=22),
                ec2.SubnetConfiguration(
                    name=self.DATA, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        for subnet in (*self.vpc.public_subnets, *self.vpc.private_subnets, *self.vpc.isolated_subnets):
            cfn_subnet = subnet.node.default_child
            assert isinstance(cfn_subnet, ec2.CfnSubnet)
            cfn_subnet.add_property_deletion_override("AvailabilityZone")
            cfn_subnet.add_property_override("AvailabilityZoneId", subnet.availability_zone)
        self.application_subnets = ec2.SubnetSelection(subnet_group_name=self.APPLICATION)
        self.data_subnets = ec2.SubnetSelection(subnet_group_name=self.DATA)
        self.public_subnets = ec2.SubnetSelection(subnet_group_name=self.PUBLIC)
