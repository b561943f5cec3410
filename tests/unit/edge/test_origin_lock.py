"""Origin lock: the synthesized listener rules, evaluated as ALB does, admit only requests that carry the
Cloudflare header with an accepted value; the value itself never appears in a template."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk.assertions import Template

from infra.alb_rules import Outcome, Request, UnsupportedCondition, evaluate, listener_ids
from infra.cfn_intrinsics import Intrinsics
from infra.dns import ORIGIN_HEADER, ORIGIN_SECRET_LOGICAL_ID
from infra.modules.core.edge.construct import FORBIDDEN_BODY, Edge
from tests.unit.edge.test_edge import PIPELINES, PORTAL, props, vpc_in
from tests.unit.helpers import new_stack

# Evaluates the listener rules of the whole synthesized prod and local: out of make test-fast.
pytestmark = pytest.mark.slow

CURRENT = "Q7f3kZ9mXw2" * 5
PREVIOUS = "Lp8sN4vR1tY" * 5
VERSION = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:([^}]*)\}\}")


def resolver(template: Mapping[str, Any], secret: Mapping[str, str]) -> Callable[[Any], str]:
    """Template values as ALB would see them once CloudFormation resolved the dynamic references:
    `secret` is the origin secret's JSON (per key), whatever version the reference pins."""
    intrinsics = Intrinsics(template)
    origin_arn = intrinsics.ref(ORIGIN_SECRET_LOGICAL_ID)

    def dynamic(match: re.Match[str]) -> str:
        body = match.group(1)
        assert body.startswith(origin_arn + ":SecretString:"), body
        key = body.removeprefix(origin_arn + ":SecretString:").split(":")[0]
        if key not in secret:
            raise AssertionError(f"the deploy would fail: the secret has no key {key!r}")
        return secret[key]

    return lambda value: _REFERENCE.sub(dynamic, str(intrinsics.resolve(value)))


def outcome(template: Mapping[str, Any], request: Request, secret: Mapping[str, str]) -> Outcome:
    (listener,) = listener_ids(template)
    return evaluate(template, listener, request, resolver(template, secret))


def target_group(template: Mapping[str, Any], logical_prefix: str) -> str:
    (found,) = [
        lid
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup" and lid.startswith(logical_prefix)
    ]
    return str(Intrinsics(template).ref(found))


def forbidden(result: Outcome) -> bool:
    return result.type == "fixed-response" and result.status == 403 and result.body == FORBIDDEN_BODY


@pytest.fixture(scope="module", params=["prod", "local"])
def platform(request: pytest.FixtureRequest, synthesized: dict[str, Template]) -> dict[str, Any]:
    return synthesized[request.param].to_json()


def host(template: Mapping[str, Any], prefix: str) -> str:
    hosts = [
        v
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"
        for c in r["Properties"]["Conditions"]
        if c["Field"] == "host-header"
        for v in c["HostHeaderConfig"]["Values"]
    ]
    (found,) = [h for h in hosts if h.startswith(prefix)]
    return str(found)


def test_without_the_header_every_hostname_gets_a_bare_403(platform: dict[str, Any]) -> None:
    secret = {"current": CURRENT}
    for name in ("portal.", "pipelines."):
        # GIVEN a request for a platform hostname that bypassed Cloudflare (no header, or a guessed one)
        for headers in ({}, {ORIGIN_HEADER: "guess"}, {ORIGIN_HEADER: ""}, {"X-Other": CURRENT}):
            result = outcome(platform, Request(host(platform, name), headers=headers), secret)
            # THEN the default action answers 403 with a body that names nothing
            assert forbidden(result) and result.rule == "default", (name, headers, result)


def test_with_the_header_each_hostname_reaches_its_application(platform: dict[str, Any]) -> None:
    secret = {"current": CURRENT}
    for name, group in (("portal.", "BackstageTargetGroup"), ("pipelines.", "PrefectTargetGroup")):
        request = Request(host(platform, name), path="/api/health", headers={ORIGIN_HEADER: CURRENT})
        result = outcome(platform, request, secret)
        assert result.type == "forward", result
        assert result.target_groups == (target_group(platform, group),)
    # AND header names are case-insensitive, as in HTTP
    lower = Request(host(platform, "portal."), headers={ORIGIN_HEADER.lower(): CURRENT})
    assert outcome(platform, lower, secret).type == "forward"


def test_an_unknown_host_with_the_header_is_forbidden_too(platform: dict[str, Any]) -> None:
    request = Request("attacker.example.com", headers={ORIGIN_HEADER: CURRENT})
    assert forbidden(outcome(platform, request, {"current": CURRENT}))


def test_every_route_requires_the_header_and_the_template_holds_no_value(platform: dict[str, Any]) -> None:
    rules = [
        r["Properties"]
        for r in platform["Resources"].values()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"
    ]
    assert rules
    for rule in rules:
        headers = [c for c in rule["Conditions"] if c["Field"] == "http-header"]
        assert [h["HttpHeaderConfig"]["HttpHeaderName"] for h in headers] == [ORIGIN_HEADER]
        for value in headers[0]["HttpHeaderConfig"]["Values"]:
            text = json.dumps(value)
            assert "{{resolve:secretsmanager:" in text and ORIGIN_SECRET_LOGICAL_ID in text
    # AND the generated secret is a template, not a value; CloudFront adds no origin header of its own
    secret = platform["Resources"][ORIGIN_SECRET_LOGICAL_ID]["Properties"]
    assert "SecretString" not in secret and secret["GenerateSecretString"]["ExcludePunctuation"] is True
    distribution = next(
        r for r in platform["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"
    )
    for origin in distribution["Properties"]["DistributionConfig"]["Origins"]:
        assert "OriginCustomHeaders" not in origin


def rotation_template(**overrides: Any) -> dict[str, Any]:
    stack: Stack = new_stack()
    vpc = vpc_in(stack)
    edge = Edge(stack, "Edge", props=replace(props(vpc), **overrides))
    for name, port, priority in (("Portal", 7007, 10), ("Pipelines", 4200, 20)):
        group = elbv2.ApplicationTargetGroup(
            stack, f"{name}Targets", vpc=vpc, port=port, protocol=elbv2.ApplicationProtocol.HTTP
        )
        edge.add_host_route(
            host=PORTAL if name == "Portal" else PIPELINES, target_group=group, priority=priority
        )
    return Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def rotating() -> dict[str, Any]:
    return rotation_template(origin_secret_version=VERSION, accept_previous_origin_value=True)


@pytest.fixture(scope="module")
def rotated() -> dict[str, Any]:
    return rotation_template(origin_secret_version=VERSION)


def test_during_a_rotation_both_values_pass_and_the_version_is_pinned(rotating: dict[str, Any]) -> None:
    # GIVEN the secret a rotation wrote: the new value current, the old one previous
    secret = {"current": CURRENT, "previous": PREVIOUS}
    for value in (PREVIOUS, CURRENT):
        # WHEN Cloudflare still sends the old value, or already the new one
        result = outcome(rotating, Request(PORTAL, headers={ORIGIN_HEADER: value}), secret)
        # THEN the portal is reached either way: no request fails during the change
        assert result.type == "forward", (value, result)
    assert forbidden(outcome(rotating, Request(PORTAL, headers={ORIGIN_HEADER: "other"}), secret))
    # AND the references pin the rotation's version, so CloudFormation re-reads the secret
    assert f"::{VERSION}}}}}" in json.dumps(rotating)


def test_after_a_rotation_only_the_new_value_passes(rotated: dict[str, Any]) -> None:
    secret = {"current": CURRENT, "previous": PREVIOUS}
    assert outcome(rotated, Request(PORTAL, headers={ORIGIN_HEADER: CURRENT}), secret).type == "forward"
    assert forbidden(outcome(rotated, Request(PORTAL, headers={ORIGIN_HEADER: PREVIOUS}), secret))


def test_alb_wildcards_and_case_are_evaluated_as_alb_does() -> None:
    template = {
        "Resources": {
            "L": {
                "Type": "AWS::ElasticLoadBalancingV2::Listener",
                "Properties": {
                    "DefaultActions": [
                        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
                    ]
                },
            },
            "R": {
                "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
                "Properties": {
                    "ListenerArn": {"Ref": "L"},
                    "Priority": 5,
                    "Conditions": [
                        {
                            "Field": "http-header",
                            "HttpHeaderConfig": {"HttpHeaderName": "X-A", "Values": ["ab?d*"]},
                        }
                    ],
                    "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
                },
            },
        }
    }

    def status(value: str) -> int | None:
        return evaluate(template, "L", Request("h", headers={"x-a": value}), str).status

    # `?` is one character, `*` any run, and values compare case-insensitively: a generated value must
    # therefore hold neither wildcard (ExcludePunctuation) and be long enough without case.
    assert (status("ABCD"), status("abcdXYZ"), status("abd"), status("abxxd")) == (200, 200, 404, 404)


def test_unmodeled_conditions_are_refused_not_guessed() -> None:
    condition = {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}
    with pytest.raises(UnsupportedCondition, match="source-ip"):
        from infra.alb_rules import condition_met

        condition_met(condition, Request("h"), str)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"accept_previous_origin_value": True}, "needs origin_secret_version"),
        ({"origin_secret_version": "v1"}, "must be a Secrets Manager version id"),
        ({"origin_secret_name": "bad name"}, "must be a Secrets Manager name"),
    ],
)
def test_bad_rotation_props_are_refused(overrides: dict[str, Any], message: str) -> None:
    stack = new_stack()
    with pytest.raises(ValueError, match=message):
        Edge(stack, "Edge", props=replace(props(vpc_in(stack)), **overrides))
