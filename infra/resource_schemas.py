"""What the CloudFormation resource schemas say about replacement, read from the schemas that cfn-lint
ships (the same registry schemas CloudFormation publishes). Shared by the deploy plan
(`blog_infra.planning`) and the emulator's change sets (`emulator.engine`), so the two cannot drift."""

from __future__ import annotations

import functools


@functools.cache
def create_only_properties(resource_type: str, region: str) -> frozenset[str]:
    """The top-level properties that the resource's registry schema lists as `createOnlyProperties`:
    CloudFormation replaces the resource when one of them changes. Empty for custom resources and
    types without a schema."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except Exception:  # custom resources and unknown types have no schema
        return frozenset()
    return frozenset(
        path.split("/")[2]
        for path in schema.get("createOnlyProperties", [])
        if path.startswith("/properties/")
    )
