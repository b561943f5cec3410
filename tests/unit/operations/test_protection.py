"""The check that a first create's template differs from the gated one in deletion protection only."""

from __future__ import annotations

import copy
from typing import Any

from blog_infra.protection import differences_beyond_protection


def template(protected: bool) -> dict[str, Any]:
    flag = "true" if protected else "false"
    return {
        "Resources": {
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "Properties": {"Engine": "aurora-postgresql", "DeletionProtection": protected},
            },
            "Balancer": {
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {
                    "LoadBalancerAttributes": [
                        {"Key": "deletion_protection.enabled", "Value": flag},
                        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
                    ]
                },
            },
        },
        "Outputs": {"Endpoint": {"Value": "x"}},
    }


def test_templates_that_differ_in_deletion_protection_only_pass() -> None:
    assert differences_beyond_protection(template(True), template(False)) == []


def test_any_other_difference_is_named() -> None:
    # GIVEN a first-create template that also changes an attribute, a property and an output
    other = template(False)
    other["Resources"]["Balancer"]["Properties"]["LoadBalancerAttributes"][1]["Value"] = "false"
    other["Resources"]["Cluster"]["Properties"]["Engine"] = "aurora-mysql"
    other["Outputs"] = {}
    extra = copy.deepcopy(other)
    extra["Resources"]["Queue"] = {"Type": "AWS::SQS::Queue"}
    # THEN each is named
    assert differences_beyond_protection(template(True), other) == ["Outputs", "Balancer", "Cluster"]
    assert differences_beyond_protection(template(True), extra)[-1] == "Queue"
