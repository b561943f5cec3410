"""Each invariant over every resource of its kind, in every template the platform deploys.

A failure names the environment, the rule and each offending logical id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.invariants.conftest import ENVIRONMENTS
from tests.invariants.rules import INVARIANTS, Template, resources_of

KINDS = {
    "bucket policies deny plain HTTP and old TLS and allow nothing to everyone": ("AWS::S3::Bucket",),
    "service grants carry source-account and source-ARN conditions": (
        "AWS::S3::BucketPolicy",
        "AWS::KMS::Key",
        "AWS::Lambda::Permission",
    ),
    "security group ingress names its source": ("AWS::EC2::SecurityGroupIngress",),
    "containers run non-root with a read-only root": ("AWS::ECS::TaskDefinition",),
    "log groups are encrypted and expire": ("AWS::Logs::LogGroup",),
    "write actions name their resources": ("AWS::IAM::Policy",),
    "stateful resources are retained": ("AWS::S3::Bucket", "AWS::RDS::DBCluster", "AWS::KMS::Key"),
    "ECS services scale on CPU": ("AWS::ApplicationAutoScaling::ScalableTarget",),
}
"""Kinds each environment must hold, so that an invariant never passes by walking nothing."""


@pytest.mark.parametrize("rule", sorted(INVARIANTS))
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_invariant_holds_for_every_resource(platform_templates: dict[str, Any], env: str, rule: str) -> None:
    # GIVEN the environment's whole template
    template: Template = platform_templates[env]
    for kind in KINDS[rule]:
        assert any(resources_of(template, kind)), f"{env} has no {kind}: the rule would check nothing"
    # WHEN the rule walks every resource of its kind THEN none offends
    check: Callable[[Template], list[str]] = INVARIANTS[rule]
    offenders = check(template)
    assert not offenders, f"{env}: {rule}:\n  " + "\n  ".join(offenders)


def test_every_rule_says_what_it_walks() -> None:
    assert set(KINDS) == set(INVARIANTS)
