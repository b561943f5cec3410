"""ECR: ``Repository`` with a valid generated name."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ecr.models import Repository as MotoRepository

from emulator.cfn._base import MotoDelegate, physical_name


class Repository(MotoDelegate, CloudFormationModel):
    """``AWS::ECR::Repository``: moto's model, but a generated name is lower case as ECR requires
    (moto generated ``<stack>-<LogicalId>-<SUFFIX>``, which ECR rejects)."""

    MOTO_MODEL = MotoRepository

    @staticmethod
    def cloudformation_name_type() -> str:
        return "RepositoryName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECR::Repository"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        props = cloudformation_json.get("Properties") or {}
        name = str(props.get("RepositoryName") or physical_name(resource_name, 256))
        return MotoRepository.create_from_cloudformation_json(
            name, cloudformation_json, account_id, region_name, **kwargs
        )
