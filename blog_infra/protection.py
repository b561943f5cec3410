"""Deletion protection in a template: where each resource type keeps it, and a check that two
templates differ in nothing else.

A stack's first create is synthesized with deletion protection off (`EnvConfig.without_deletion_protection`)
so that CloudFormation can roll a failed create back; the safety gates judge the configured template,
and `differences_beyond_protection` proves that the first create deploys that template but for the
protection, so the gates' verdict holds for it.
"""

from __future__ import annotations

import copy
from typing import Any

PROPERTY_PROTECTION = {
    "AWS::RDS::DBCluster": "DeletionProtection",
    "AWS::RDS::DBInstance": "DeletionProtection",
    "AWS::DynamoDB::Table": "DeletionProtectionEnabled",
}
"""Resource types whose deletion protection is one boolean property."""

LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
LOAD_BALANCER_ATTRIBUTE = "deletion_protection.enabled"


def _without_protection(resource: Any) -> Any:
    if not isinstance(resource, dict):
        return resource
    stripped = copy.deepcopy(resource)
    properties = stripped.get("Properties") or {}
    prop = PROPERTY_PROTECTION.get(str(stripped.get("Type")))
    if prop is not None:
        properties.pop(prop, None)
    if stripped.get("Type") == LOAD_BALANCER and isinstance(properties.get("LoadBalancerAttributes"), list):
        properties["LoadBalancerAttributes"] = [
            item
            for item in properties["LoadBalancerAttributes"]
            if not (isinstance(item, dict) and item.get("Key") == LOAD_BALANCER_ATTRIBUTE)
        ]
    return stripped


def differences_beyond_protection(checked: dict[str, Any], first: dict[str, Any]) -> list[str]:
    """Logical ids (and top-level sections) in which `first` differs from `checked` other than in
    deletion protection; empty when the two deploy the same resources."""
    found: list[str] = []
    for section in sorted((set(checked) | set(first)) - {"Resources"}):
        if checked.get(section) != first.get(section):
            found.append(section)
    resources = checked.get("Resources") or {}
    others = first.get("Resources") or {}
    for logical_id in sorted(set(resources) | set(others)):
        if _without_protection(resources.get(logical_id)) != _without_protection(others.get(logical_id)):
            found.append(logical_id)
    return found
