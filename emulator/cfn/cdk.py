"""``AWS::CDK::Metadata``, the analytics record every CDK stack carries."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from emulator.cfn._base import Resource, properties_of, random_suffix


class CdkMetadata(Resource, CloudFormationModel):
    """Accepted and ignored, as on AWS; moto did not know the type."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CDK::Metadata"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CdkMetadata:
        physical_id = f"{kwargs.get('LogicalId', 'CDKMetadata')}-{random_suffix()}"
        return cls(physical_id, account_id, region_name, properties_of(cloudformation_json))
