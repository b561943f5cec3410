"""core/network: subnets, NAT, endpoint, flow logs, locked default security group."""

from __future__ import annotations

import pytest
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from infra.modules.core.network.construct import Network, NetworkProps
from tests.unit.helpers import new_stack


def network_template(**overrides: object) -> Template:
    stack = new_stack()
    props = {"zone_ids": ("use1-az1", "use1-az2"), "cidr": "10.40.0.0/16"} | overrides
    Network(stack, "Network", props=NetworkProps(**props))  # type: ignore[arg-type]
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def template() -> Template:
    return network_template(flow_log_retention=logs.RetentionDays.ONE_MONTH)


def test_three_subnet_tiers_across_two_zones(template: Template) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.40.0.0/16"})
    template.resource_count_is("AWS::EC2::Subnet", 6)
    for tier in ("public", "application", "data"):
        template.has_resource_properties(
            "AWS::EC2::Subnet",
            {"Tags": Match.array_with([{"Key": "aws-cdk:subnet-name", "Value": tier}])},
        )
    template.has_resource_properties("AWS::EC2::Subnet", {"AvailabilityZoneId": "use1-az2"})


def test_every_subnet_names_its_zone_by_id_never_by_name(template: Template) -> None:
    # GIVEN the network spanning use1-az1 and use1-az2 WHEN synthesized
    subnets = template.find_resources("AWS::EC2::Subnet").values()
    # THEN each subnet names its zone by id (the same physical zone in every account), none by name
    assert (
        sorted(s["Properties"]["AvailabilityZoneId"] for s in subnets) == ["use1-az1"] * 3 + ["use1-az2"] * 3
    )
    assert all("AvailabilityZone" not in s["Properties"] for s in subnets)


def test_one_nat_gateway_by_default(template: Template) -> None:
    template.resource_count_is("AWS::EC2::NatGateway", 1)


def test_no_nat_makes_application_subnets_isolated() -> None:
    template = network_template(nat_gateways=0)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.has_resource_properties(
        "AWS::EC2::Subnet",
        {
            "Tags": Match.array_with(
                [
                    {"Key": "aws-cdk:subnet-name", "Value": "application"},
                    {"Key": "aws-cdk:subnet-type", "Value": "Isolated"},
                ]
            )
        },
    )


def test_s3_gateway_endpoint(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Gateway", "ServiceName": Match.object_like({"Fn::Join": Match.any_value()})},
    )


def test_flow_logs_capture_all_traffic_with_retention(template: Template) -> None:
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "ResourceType": "VPC"})
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_default_security_group_is_restricted(template: Template) -> None:
    template.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_rejects_more_nat_gateways_than_zones() -> None:
    with pytest.raises(ValueError, match="more NAT gateways than availability zones"):
        network_template(nat_gateways=3)


def test_rejects_a_single_zone() -> None:
    with pytest.raises(ValueError, match="at least two distinct availability zones"):
        network_template(zone_ids=("use1-az1",))


def test_rejects_zone_names() -> None:
    with pytest.raises(ValueError, match="us-east-1a, us-east-1b are not zone ids such as use1-az1"):
        network_template(zone_ids=("us-east-1a", "us-east-1b"))


def test_no_subnet_gives_public_ips_unasked(template: Template) -> None:
    # GIVEN the public subnets hold only NAT gateways (Elastic IPs) THEN none maps public IPs on launch
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert subnets and all(s["Properties"].get("MapPublicIpOnLaunch") is not True for s in subnets.values())


def test_flow_logs_are_encrypted_with_the_given_key() -> None:
    from aws_cdk import aws_kms as kms

    stack = new_stack()
    key = kms.Key(stack, "LogsKey")
    Network(
        stack,
        "Network",
        props=NetworkProps(zone_ids=("use1-az1", "use1-az2"), log_encryption_key=key),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"KmsKeyId": {"Fn::GetAtt": [stack.resolve(key.node.default_child.logical_id), "Arn"]}},  # type: ignore[union-attr]
    )
