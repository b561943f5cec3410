"""Account shapes: an emulator started with a shape meets the account as AWS may hand it out, and
refuses there what AWS refuses; the default emulator is the default AWS account (a Lambda quota of
1000, moto's zone mapping, images pulled only from its ECR)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from emulator import control
from emulator.iam_enforcement import MODE_PATH
from emulator.shape import EmulatorShape, ShapeError
from tests.emulator.emulator_testlib import Emulator, describe, template

pytestmark = pytest.mark.slow  # starts emulators of their own

ASSUME_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
REFUSED = (
    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
    "below its minimum value of [100]."
)


def function_template(**function_props: Any) -> str:
    return template(
        {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": ASSUME_LAMBDA}},
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
                    **function_props,
                },
            },
        }
    )


@pytest.fixture(scope="module")
def new_account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator of a new account: Lambda quota 10."""
    state_dir = tmp_path_factory.mktemp("new-account")
    status = control.start(state_dir, EmulatorShape(lambda_concurrency=10))
    assert status.endpoint
    try:
        yield Emulator(state_dir=state_dir, endpoint=status.endpoint, log_path=status.log_path)
    finally:
        control.stop(state_dir)


def test_the_new_facts_travel_as_json_and_are_checked() -> None:
    shape = EmulatorShape(lambda_concurrency=10, zone_ids={"us-east-1b": "use1-az3"})
    assert EmulatorShape.from_json(shape.to_json()) == shape
    assert EmulatorShape().lambda_concurrency == 1000 and EmulatorShape().zone_ids == {}
    with pytest.raises(ShapeError, match="lambda_concurrency must be a int"):
        EmulatorShape.from_json('{"lambda_concurrency": "10"}')


def test_get_account_settings_reports_the_shape_quota_less_the_reservations(new_account: Emulator) -> None:
    # GIVEN a new account (quota 10) WHEN its Lambda settings are read
    limits = new_account.client("lambda").get_account_settings()["AccountLimit"]
    # THEN the quota is 10, all of it unreserved
    assert (limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]) == (10, 10)


def test_a_function_template_reserving_concurrency_fails_in_a_new_account(new_account: Emulator) -> None:
    # GIVEN a new account (quota 10)
    cfn = new_account.client("cloudformation")
    offset = control.log_size(new_account.log_path)
    # WHEN a stack creates a function that reserves 1 execution
    cfn.create_stack(StackName="reserving", TemplateBody=function_template(ReservedConcurrentExecutions=1))
    # THEN the function fails as Lambda refuses it, and the stack rolls back
    stack = describe(cfn, "reserving")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="reserving")["StackEvents"]
    failed = [
        e for e in events if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] == "Function"
    ]
    assert failed and REFUSED in failed[0]["ResourceStatusReason"]
    assert control.log_problems(new_account.log_path, offset) == []
    # AND the same function without a reservation deploys
    cfn.create_stack(StackName="unreserved", TemplateBody=function_template())
    assert describe(cfn, "unreserved")["StackStatus"] == "CREATE_COMPLETE"


def test_put_function_concurrency_is_refused_in_a_new_account(new_account: Emulator) -> None:
    # GIVEN a function without a reservation in a new account
    cfn = new_account.client("cloudformation")
    cfn.create_stack(StackName="plain", TemplateBody=function_template(FunctionName="plain-fn"))
    assert describe(cfn, "plain")["StackStatus"] == "CREATE_COMPLETE"
    # WHEN 1 execution is reserved for it THEN Lambda's refusal comes back
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        new_account.client("lambda").put_function_concurrency(
            FunctionName="plain-fn", ReservedConcurrentExecutions=1
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert refused.value.response["Error"]["Message"] == REFUSED


def test_the_default_emulator_reports_lambdas_default_quota_and_allows_what_it_leaves(
    emulator: Emulator,
) -> None:
    # GIVEN the default emulator
    lambda_ = emulator.client("lambda")
    cfn = emulator.client("cloudformation")
    # WHEN a function reserving 5 executions is deployed
    cfn.create_stack(
        StackName="default-reserving", TemplateBody=function_template(ReservedConcurrentExecutions=5)
    )
    # THEN it deploys, and the settings show the default quota less the reservation
    assert describe(cfn, "default-reserving")["StackStatus"] == "CREATE_COMPLETE"
    limits = lambda_.get_account_settings()["AccountLimit"]
    assert limits["ConcurrentExecutions"] == 1000
    assert limits["UnreservedConcurrentExecutions"] == 1000 - sum(
        int(
            lambda_.get_function_concurrency(FunctionName=f["FunctionName"]).get(
                "ReservedConcurrentExecutions", 0
            )
        )
        for f in lambda_.list_functions()["Functions"]
    )
    assert limits["UnreservedConcurrentExecutions"] <= 995


UNSUPPORTED_B = EmulatorShape(zone_ids={"us-east-1b": "use1-az3"})
"""An account whose us-east-1b is use1-az3, where CloudFront VPC origins are not offered."""


@pytest.fixture(scope="module")
def zone_shaped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state_dir = tmp_path_factory.mktemp("zone-shaped")
    status = control.start(state_dir, UNSUPPORTED_B)
    assert status.endpoint
    try:
        yield Emulator(state_dir=state_dir, endpoint=status.endpoint, log_path=status.log_path)
    finally:
        control.stop(state_dir)


def test_the_shape_maps_zone_names_to_its_zone_ids(zone_shaped: Emulator) -> None:
    # GIVEN an account whose us-east-1b is use1-az3 WHEN its zones are described
    zones = {
        z["ZoneName"]: z["ZoneId"]
        for z in zone_shaped.client("ec2").describe_availability_zones()["AvailabilityZones"]
    }
    # THEN us-east-1b is use1-az3, and the zone that held use1-az3 took us-east-1b's old id: ids stay unique
    assert zones["us-east-1b"] == "use1-az3"
    assert len(set(zones.values())) == len(zones) == 6


def vpc_origin_template(**subnet_zone: str) -> str:
    """A VPC, two subnets in the given zones (name or id property), an internal load balancer on
    them and a CloudFront VPC origin for it."""
    return template(
        {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
            **{
                f"Subnet{i}": {
                    "Type": "AWS::EC2::Subnet",
                    "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": f"10.0.{i}.0/24", key: value},
                }
                for i, (key, value) in enumerate(
                    [(k.rstrip("0123456789"), v) for k, v in subnet_zone.items()], start=1
                )
            },
            "Alb": {
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {
                    "Scheme": "internal",
                    "Subnets": [{"Ref": f"Subnet{i}"} for i in range(1, len(subnet_zone) + 1)],
                },
            },
            "Origin": {
                "Type": "AWS::CloudFront::VpcOrigin",
                "Properties": {"VpcOriginEndpointConfig": {"Arn": {"Ref": "Alb"}, "Name": "alb"}},
            },
        }
    )


def test_a_vpc_origin_on_a_zone_without_vpc_origins_fails(zone_shaped: Emulator) -> None:
    # GIVEN an account whose us-east-1b is use1-az3
    cfn = zone_shaped.client("cloudformation")
    offset = control.log_size(zone_shaped.log_path)
    # WHEN a load balancer on us-east-1a and us-east-1b (by name) gets a VPC origin
    cfn.create_stack(
        StackName="by-name",
        TemplateBody=vpc_origin_template(AvailabilityZone1="us-east-1a", AvailabilityZone2="us-east-1b"),
    )
    # THEN the VPC origin fails as CloudFront refuses it, and the stack rolls back
    assert describe(cfn, "by-name")["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="by-name")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["LogicalResourceId"] == "Origin"]
    assert any("VPC origins are not supported in Availability Zone use1-az3" in r for r in reasons)
    assert control.log_problems(zone_shaped.log_path, offset) == []


def test_subnets_by_zone_id_land_in_that_zone_and_the_vpc_origin_deploys(zone_shaped: Emulator) -> None:
    # GIVEN the same account WHEN the subnets name their zones by id, on zones with VPC origins
    cfn = zone_shaped.client("cloudformation")
    cfn.create_stack(
        StackName="by-id",
        TemplateBody=vpc_origin_template(AvailabilityZoneId1="use1-az1", AvailabilityZoneId2="use1-az2"),
    )
    # THEN the stack deploys, each subnet in the zone of that id
    assert describe(cfn, "by-id")["StackStatus"] == "CREATE_COMPLETE", describe(cfn, "by-id").get(
        "StackStatusReason"
    )
    resources = cfn.describe_stack_resources(StackName="by-id")["StackResources"]
    subnet_ids = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::EC2::Subnet"]
    subnets = zone_shaped.client("ec2").describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    assert sorted(s["AvailabilityZoneId"] for s in subnets) == ["use1-az1", "use1-az2"]


def test_a_subnet_on_a_zone_id_the_account_does_not_offer_fails(zone_shaped: Emulator) -> None:
    cfn = zone_shaped.client("cloudformation")
    cfn.create_stack(
        StackName="no-such-zone",
        TemplateBody=vpc_origin_template(AvailabilityZoneId1="use1-az1", AvailabilityZoneId2="use1-az9"),
    )
    assert describe(cfn, "no-such-zone")["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="no-such-zone")["StackEvents"]
    assert any(
        "Value (use1-az9) for parameter availabilityZoneId is invalid" in e.get("ResourceStatusReason", "")
        for e in events
    )


def test_iam_is_enforced_by_default_and_the_shape_names_another_mode() -> None:
    assert EmulatorShape().iam == "enforce"
    assert EmulatorShape.from_json('{"iam": "audit"}').iam == "audit"
    with pytest.raises(ShapeError, match="iam must be one of off, audit, enforce, not 'strict'"):
        EmulatorShape.from_json('{"iam": "strict"}')


def test_an_emulator_started_with_iam_off_runs_off(tmp_path: Path) -> None:
    state_dir = tmp_path / "lenient"
    status = control.start(state_dir, shape=EmulatorShape(iam="off"))
    try:
        assert status.endpoint
        with urllib.request.urlopen(status.endpoint + MODE_PATH, timeout=10) as answer:
            assert json.loads(answer.read()) == {"mode": "off"}
    finally:
        control.stop(state_dir)
