"""`verify` reports an origin that answers without the Cloudflare header: the deployed listener's rules
(read from an in-process ELB, moto) and, on AWS, a request through CloudFront without the header
(the HTTP transport mocked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from blog_infra import verify
from blog_infra.target import Target
from blog_infra.verify import Status, Verifier, probe_origin
from infra.dns import ORIGIN_HEADER

# A moto load balancer per test: seconds, so out of make test-fast (make test runs it).
pytestmark = pytest.mark.slow

PORTAL = "portal.rocketclub.online"
DISTRIBUTION = "d111111abcdef8.cloudfront.net"
TEMPLATE = {
    "Resources": {
        "Https": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {"Protocol": "HTTPS"}},
        "Edge": {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {"DistributionConfig": {"Aliases": [PORTAL]}},
        },
    }
}


def host_condition() -> dict[str, Any]:
    return {"Field": "host-header", "HostHeaderConfig": {"Values": [PORTAL]}}


def header_condition() -> dict[str, Any]:
    return {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": ORIGIN_HEADER, "Values": ["v"]}}


@pytest.fixture
def elb(local_config: Any) -> Iterator[tuple[Any, str, str, Target]]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
                "Subnet"
            ]["SubnetId"]
            for i, z in ((1, "a"), (2, "b"))
        ]
        client = boto3.client("elbv2", region_name="us-east-1")
        lb = client.create_load_balancer(Name="edge", Subnets=subnets, Scheme="internal")["LoadBalancers"][0]
        group = client.create_target_group(Name="portal", Protocol="HTTP", Port=7007, VpcId=vpc)[
            "TargetGroups"
        ][0]
        listener = client.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {"StatusCode": "403", "MessageBody": "Forbidden"},
                }
            ],
        )["Listeners"][0]
        yield client, listener["ListenerArn"], group["TargetGroupArn"], Target(config=local_config)


def origin_rows(target: Target, listener_arn: str) -> dict[str, dict[str, str]]:
    verifier = Verifier(target, "blog-test", TEMPLATE)
    verifier.physical = {"Https": listener_arn}
    return {c.check: c.to_json() for c in verifier._origin_lock()}


def test_locked_routes_pass_and_the_emulator_says_what_it_could_not_send(elb: Any) -> None:
    client, listener, group, target = elb
    # GIVEN a route that requires the header
    client.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[host_condition(), header_condition()],
        Actions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    rows = origin_rows(target, listener)
    # THEN the default action and the routes pass
    assert rows["origin lock: default action"]["status"] == "pass"
    assert rows["origin lock: routes"]["status"] == "pass"
    # AND the request itself is skipped on the emulator, saying why
    probe = rows["origin lock: request without the header"]
    assert probe["status"] == "skipped" and "serves no HTTP traffic" in probe["actual"]


def test_a_route_without_the_header_is_drift(elb: Any) -> None:
    client, listener, group, target = elb
    # GIVEN someone added a route on the Host header alone (the bypass of issue 21)
    client.create_rule(
        ListenerArn=listener,
        Priority=30,
        Conditions=[host_condition()],
        Actions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    row = origin_rows(target, listener)["origin lock: routes"]
    assert row["status"] == "drift" and row["actual"] == "priority 30 forward(s) without it"


def test_a_default_action_that_forwards_is_drift(elb: Any) -> None:
    client, listener, group, target = elb
    client.modify_listener(
        ListenerArn=listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": group}]
    )
    row = origin_rows(target, listener)["origin lock: default action"]
    assert (row["status"], row["actual"]) == ("drift", "forward")


@pytest.mark.parametrize(
    ("status", "body", "expected", "actual"),
    [
        (403, "Forbidden", Status.PASS, "403 Forbidden"),
        (200, "<html>portal</html>", Status.DRIFT, "answered 200 without the header"),
        (302, "", Status.DRIFT, "answered 302 without the header"),
        (403, "<HTML>Request blocked.</HTML>", Status.UNAVAILABLE, "403 not from the load balancer"),
    ],
)
def test_the_probe_sends_a_bypass_request_and_judges_the_answer(
    monkeypatch: pytest.MonkeyPatch, status: int, body: str, expected: Status, actual: str
) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status, text=body)

    monkeypatch.setattr(
        verify, "origin_client", lambda timeout: httpx.Client(transport=httpx.MockTransport(answer))
    )
    text, result = probe_origin(DISTRIBUTION, PORTAL)
    assert result is expected and text.startswith(actual)
    (request,) = sent
    # the request a bypass sends: to CloudFront, with the hostname as SNI and Host, without the header
    assert request.url.host == DISTRIBUTION and request.headers["Host"] == PORTAL
    assert request.extensions["sni_hostname"] == PORTAL
    assert ORIGIN_HEADER.lower() not in {k.lower() for k in request.headers}


def test_the_probe_without_an_answer_could_not_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    monkeypatch.setattr(
        verify, "origin_client", lambda timeout: httpx.Client(transport=httpx.MockTransport(fail))
    )
    assert probe_origin(DISTRIBUTION, PORTAL) == ("no answer (ConnectTimeout)", Status.UNAVAILABLE)


class StackTarget:
    """AWS as `verify` sees it for the probe: the stack's outputs; the probe's HTTP is mocked."""

    description = "AWS account 111111111111 in us-east-1"

    def __init__(self, config: Any) -> None:
        self.config = config

    def client(self, service: str) -> Any:
        assert service == "cloudformation"
        return self

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        outputs = [{"OutputKey": "EdgeDistributionDomain", "OutputValue": DISTRIBUTION}]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


def test_on_aws_the_probe_goes_to_the_deployed_distribution(
    monkeypatch: pytest.MonkeyPatch, prod_config: Any
) -> None:
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(f"{request.url.host} {request.headers['Host']}")
        return httpx.Response(200, text="portal")

    monkeypatch.setattr(
        verify, "origin_client", lambda timeout: httpx.Client(transport=httpx.MockTransport(answer))
    )
    verifier = Verifier(StackTarget(prod_config), "blog-prod", TEMPLATE)  # type: ignore[arg-type]
    (row,) = [c.to_json() for c in verifier._origin_probe()]
    assert hosts == [f"{DISTRIBUTION} {PORTAL}"]
    assert (row["status"], row["actual"]) == ("drift", "answered 200 without the header")
