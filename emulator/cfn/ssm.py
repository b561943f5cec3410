"""SSM: ``Parameter`` with a generated name when the template gives none, as AWS does."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ssm.models import SimpleSystemManagerBackend, ssm_backends

from emulator.cfn._base import Resource, properties_of, random_suffix, tag_dict


def _ssm(account_id: str, region_name: str) -> SimpleSystemManagerBackend:
    return ssm_backends[account_id][region_name]


class Parameter(Resource, CloudFormationModel):
    """``AWS::SSM::Parameter``; Ref gives the name. moto failed without ``Name`` and replaced the
    parameter on every update."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SSM::Parameter"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Type", "Value")

    def attributes(self) -> dict[str, Any]:
        return {"Type": self.properties.get("Type", "String"), "Value": self.properties.get("Value", "")}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Parameter:
        props = properties_of(cloudformation_json)
        name = str(props.get("Name") or f"CFN-{kwargs.get('LogicalId', 'Parameter')}-{random_suffix()}")
        resource = cls(name, account_id, region_name, {})
        resource._put(props, overwrite=False)
        return resource

    def _put(self, props: dict[str, Any], overwrite: bool) -> None:
        tags = tag_dict(props.get("Tags"))
        _ssm(self.account_id, self.region_name).put_parameter(
            name=self.physical_id,
            description=props.get("Description"),  # type: ignore[arg-type]
            value=str(props.get("Value") or ""),
            parameter_type=str(props.get("Type") or "String"),
            allowed_pattern=props.get("AllowedPattern"),  # type: ignore[arg-type]
            keyid=None,  # type: ignore[arg-type]
            overwrite=overwrite,
            tags=[] if overwrite else [{"Key": k, "Value": v} for k, v in tags.items()],
            data_type=str(props.get("DataType") or "text"),
            tier=props.get("Tier"),
            policies=props.get("Policies"),
        )
        self.properties = props

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if properties.get("Name") != self.properties.get("Name"):
            replacement = Parameter.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        self._put(properties, overwrite=True)
        return self

    def delete_resource(self) -> None:
        backend = _ssm(self.account_id, self.region_name)
        if backend.get_parameter(self.physical_id) is not None:
            backend.delete_parameter(self.physical_id)
