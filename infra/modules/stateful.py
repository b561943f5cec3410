"""Helpers for stateful resources, whose logical ids are part of the platform's contract."""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct


def pin_logical_id(construct: IConstruct, logical_id: str) -> None:
    """Give the construct's CloudFormation resource a fixed logical id.

    A logical id derived from the construct path changes when the tree is refactored, and
    CloudFormation then replaces the resource. Data must survive refactors, so stateful resources
    carry an explicit id that `tests/synth/test_stateful.py` pins.
    """
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to pin")
    resource.override_logical_id(logical_id)
