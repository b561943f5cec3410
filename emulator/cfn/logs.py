"""CloudWatch Logs: ``LogGroup`` keeps moto's create and gains a deletion that works; ``MetricFilter``,
missing in moto's CloudFormation, puts the filter through moto's Logs API."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.logs.models import LogGroup as MotoLogGroup
from moto.logs.models import logs_backends

from emulator.cfn._base import MotoDelegate, Resource, ResourceError, properties_of, random_suffix


class LogGroup(MotoDelegate, CloudFormationModel):
    """``AWS::Logs::LogGroup``: moto's create, plus deletion."""

    MOTO_MODEL = MotoLogGroup

    @staticmethod
    def cloudformation_name_type() -> str:
        return "LogGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Logs::LogGroup"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = logs_backends[account_id][region_name]
        if resource.name in backend.groups:
            backend.delete_log_group(resource.name)


class MetricFilter(Resource, CloudFormationModel):
    """``AWS::Logs::MetricFilter``: a filter on an existing log group (``PutMetricFilter``); ``Ref`` is
    the filter's name, which CloudFormation generates when the template gives none."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "FilterName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Logs::MetricFilter"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> MetricFilter:
        props = properties_of(cloudformation_json)
        name = str(props.get("FilterName") or f"{kwargs.get('LogicalId', 'MetricFilter')}-{random_suffix()}")
        resource = cls(name, account_id, region_name, props)
        resource._put(props)
        return resource

    def _put(self, props: dict[str, Any]) -> None:
        backend = logs_backends[self.account_id][self.region_name]
        group = str(props.get("LogGroupName", ""))
        if group not in backend.groups:
            # PutMetricFilter on a missing group fails with ResourceNotFoundException on AWS.
            raise ResourceError(f"The specified log group does not exist: {group!r}")
        transformations = [
            {key[0].lower() + key[1:]: value for key, value in transformation.items()}
            for transformation in props.get("MetricTransformations") or []
        ]
        backend.put_metric_filter(
            self.physical_id,
            str(props.get("FilterPattern", "")),
            group,
            transformations,  # type: ignore[arg-type]
        )
        self.properties = props

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.delete_resource()
        self._put(properties)
        return self

    def delete_resource(self) -> None:
        backend = logs_backends[self.account_id][self.region_name]
        backend.delete_metric_filter(self.physical_id, str(self.properties.get("LogGroupName", "")))


def install_log_group_arn() -> None:
    """`Fn::GetAtt LogGroup.Arn` is the log group's ARN with `:*` at its end on AWS ("The ARN of the log
    group, such as `arn:aws:logs:us-west-1:123456789012:log-group:/mystack-testgroup-12ABC1AHYI2OI:*`":
    CloudFormation User Guide, AWS::Logs::LogGroup, Return values); moto answers it without. A grant on
    that attribute (CDK's `grantWrite`) must cover the group's streams, as on AWS (idempotent)."""
    original = MotoLogGroup.get_cfn_attribute
    if getattr(original, "_with_streams", False):
        return

    def get_cfn_attribute(self: MotoLogGroup, attribute_name: str) -> Any:
        value = original(self, attribute_name)
        return f"{value}:*" if attribute_name == "Arn" else value

    get_cfn_attribute._with_streams = True  # type: ignore[attr-defined]
    MotoLogGroup.get_cfn_attribute = get_cfn_attribute  # type: ignore[method-assign]
