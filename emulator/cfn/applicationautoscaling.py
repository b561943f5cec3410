"""Application Auto Scaling: ``ScalableTarget`` and ``ScalingPolicy``, missing in moto's CloudFormation."""

from __future__ import annotations

from typing import Any

from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    applicationautoscaling_backends,
)
from moto.core.common_models import CloudFormationModel

from emulator.cfn._base import Resource, ResourceError, as_int, physical_name, properties_of


def _backend(account_id: str, region_name: str) -> ApplicationAutoscalingBackend:
    return applicationautoscaling_backends[account_id][region_name]


class ScalableTarget(Resource, CloudFormationModel):
    """``AWS::ApplicationAutoScaling::ScalableTarget``; Ref gives ``resource-id|dimension|namespace``
    as on AWS."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalableTarget"

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
    ) -> ScalableTarget:
        props = properties_of(cloudformation_json)
        cls._register(props, account_id, region_name)
        physical_id = f"{props['ResourceId']}|{props['ScalableDimension']}|{props['ServiceNamespace']}"
        return cls(physical_id, account_id, region_name, props)

    @staticmethod
    def _register(props: dict[str, Any], account_id: str, region_name: str) -> None:
        for key in ("ResourceId", "ScalableDimension", "ServiceNamespace"):
            if not props.get(key):
                raise ResourceError(f"ScalableTarget needs {key}")
        suspended = props.get("SuspendedState")
        _backend(account_id, region_name).register_scalable_target(
            namespace=str(props["ServiceNamespace"]),
            r_id=str(props["ResourceId"]),
            dimension=str(props["ScalableDimension"]),
            min_capacity=as_int(props.get("MinCapacity")),
            max_capacity=as_int(props.get("MaxCapacity")),
            role_arn=str(props.get("RoleARN") or ""),
            suspended_state=suspended,  # type: ignore[arg-type]
        )

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        keys = ("ResourceId", "ScalableDimension", "ServiceNamespace")
        if any(properties.get(k) != self.properties.get(k) for k in keys):
            replacement = ScalableTarget.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        self._register(properties, self.account_id, self.region_name)
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        resource_id, dimension, namespace = self.physical_id.split("|")
        backend = _backend(self.account_id, self.region_name)
        if resource_id in backend.targets.get(dimension, {}):
            backend.deregister_scalable_target(namespace, resource_id, dimension)


class ScalingPolicy(Resource, CloudFormationModel):
    """``AWS::ApplicationAutoScaling::ScalingPolicy``; Ref gives the policy ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "PolicyName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApplicationAutoScaling::ScalingPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def attributes(self) -> dict[str, Any]:
        return {"Arn": self.physical_id}

    target: tuple[str, str, str]
    policy_name: str

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScalingPolicy:
        props = properties_of(cloudformation_json)
        if props.get("ScalingTargetId"):
            resource_id, dimension, namespace = str(props["ScalingTargetId"]).split("|")
        else:
            resource_id = str(props.get("ResourceId"))
            dimension = str(props.get("ScalableDimension"))
            namespace = str(props.get("ServiceNamespace"))
        name = str(props.get("PolicyName") or physical_name(resource_name, 256, lower=False))
        policy_type = str(props.get("PolicyType") or "TargetTrackingScaling")
        body = (
            props.get("TargetTrackingScalingPolicyConfiguration")
            or props.get("StepScalingPolicyConfiguration")
            or {}
        )
        policy = _backend(account_id, region_name).put_scaling_policy(
            policy_name=name,
            service_namespace=namespace,
            resource_id=resource_id,
            scalable_dimension=dimension,
            policy_body=dict(body),
            policy_type=policy_type,
        )
        resource = cls(policy.policy_arn, account_id, region_name, props)
        resource.target = (namespace, resource_id, dimension)
        resource.policy_name = name
        return resource

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.delete_resource()
        replacement = ScalingPolicy.create_from_cloudformation_json(
            self.policy_name if not properties.get("PolicyName") else new_resource_name,
            {"Properties": properties},
            self.account_id,
            self.region_name,
        )
        return replacement

    def delete_resource(self) -> None:
        namespace, resource_id, dimension = self.target
        backend = _backend(self.account_id, self.region_name)
        key = FakeApplicationAutoscalingPolicy.formulate_key(
            namespace, resource_id, dimension, self.policy_name
        )
        if key in backend.policies:
            backend.delete_scaling_policy(self.policy_name, namespace, resource_id, dimension)
