"""Custom resources (``Custom::*`` and ``AWS::CloudFormation::CustomResource``)."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from emulator.cfn._base import Resource, properties_of, random_suffix


def custom_resource_model(resource_type: str) -> type[CustomResource]:
    """The model of a custom resource type: a native emulation of a CDK-provided handler
    (``cdk.NATIVE_CUSTOM_RESOURCES``), or else the no-op ``CustomResource``."""
    from emulator.cfn.cdk import NATIVE_CUSTOM_RESOURCES

    return NATIVE_CUSTOM_RESOURCES.get(resource_type, CustomResource)


class CustomResource(Resource, CloudFormationModel):
    """A custom resource recorded as complete without running its provider.

    Their providers are Lambda functions, and nothing runs Lambda code here (moto would need
    Docker); a stack must still complete and delete cleanly. Every attribute reads as "".
    """

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFormation::CustomResource"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return ""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CustomResource:
        physical_id = f"{kwargs.get('LogicalId', 'Custom')}-{random_suffix()}"
        return cls(physical_id, account_id, region_name, properties_of(cloudformation_json))

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        """moto's deletion hook, never called: the engine deletes through ``delete_stack_resource``."""
