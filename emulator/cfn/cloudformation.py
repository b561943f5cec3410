"""Custom resources (``Custom::*`` and ``AWS::CloudFormation::CustomResource``)."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from emulator.cfn._base import Resource, properties_of, random_suffix


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
