"""Ownership tags on every resource, including the ones CDK creates outside the tag system."""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import CfnResource, IAspect, Stack, TagManager, Tags
from constructs import IConstruct

from infra.ownership import DEFAULT_COMPONENT

_RAW_TAGGABLE_TYPES = frozenset({"AWS::IAM::Role", "AWS::Lambda::Function"})


@jsii.implements(IAspect)
class _TagRawResources:
    """Tags the CloudFormation resources of CDK's custom resource providers, which are plain
    `CfnResource`s that `Tags.of()` does not reach."""

    def __init__(self, tags: Mapping[str, str]) -> None:
        self.tags = dict(tags)

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, CfnResource)
            and not TagManager.is_taggable(node)
            and node.cfn_resource_type in _RAW_TAGGABLE_TYPES
        ):
            node.add_property_override(
                "Tags", [{"Key": key, "Value": value} for key, value in sorted(self.tags.items())]
            )


def tag_stack(stack: Stack, tags: Mapping[str, str], components: Mapping[IConstruct, str]) -> None:
    """`tags` on every resource of `stack`; `component` per module, `platform` for the rest."""
    from aws_cdk import Aspects

    for key, value in tags.items():
        Tags.of(stack).add(key, value)
    Tags.of(stack).add("component", DEFAULT_COMPONENT, priority=50)
    for construct, component in components.items():
        Tags.of(construct).add("component", component)
    Aspects.of(stack).add(_TagRawResources({**tags, "component": DEFAULT_COMPONENT}))
