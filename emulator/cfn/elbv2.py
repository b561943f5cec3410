"""Elastic Load Balancing v2: ``LoadBalancer``, ``TargetGroup``, ``Listener`` and ``ListenerRule`` keep
moto's create and gain the deletion moto lacked; a load balancer gets its ``LoadBalancerAttributes``,
and deletion protection refuses its deletion, as on AWS."""

from __future__ import annotations

import logging
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import ELBv2Backend, elbv2_backends
from moto.elbv2.models import FakeListener as MotoListener
from moto.elbv2.models import FakeListenerRule as MotoListenerRule
from moto.elbv2.models import FakeLoadBalancer as MotoLoadBalancer
from moto.elbv2.models import FakeTargetGroup as MotoTargetGroup

from emulator.cfn._base import MotoDelegate, properties_of

_log = logging.getLogger("emulator.cfn")
DELETION_PROTECTION = "deletion_protection.enabled"


def _elbv2(account_id: str, region_name: str) -> ELBv2Backend:
    return elbv2_backends[account_id][region_name]


def _attributes(props: dict[str, Any]) -> dict[str, str]:
    """``LoadBalancerAttributes`` as the API's key/value strings (a boolean as "true"/"false")."""
    values: dict[str, str] = {}
    for item in props.get("LoadBalancerAttributes") or []:
        value = item.get("Value")
        values[str(item["Key"])] = str(value).lower() if isinstance(value, bool) else str(value)
    return values


class LoadBalancer(MotoDelegate, CloudFormationModel):
    """``AWS::ElasticLoadBalancingV2::LoadBalancer``: moto's create, plus its ``LoadBalancerAttributes``
    (moto dropped them, so deletion protection was never on), their update in place, and deletion,
    which deletion protection refuses."""

    MOTO_MODEL = MotoLoadBalancer

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticLoadBalancingV2::LoadBalancer"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        load_balancer = MotoLoadBalancer.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        props = properties_of(cloudformation_json)
        _elbv2(account_id, region_name).modify_load_balancer_attributes(load_balancer.arn, _attributes(props))
        load_balancer.cfn_properties = props  # type: ignore[attr-defined]
        return load_balancer

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        props = properties_of(cloudformation_json)
        previous = dict(getattr(original_resource, "cfn_properties", {}) or {})
        others = {k for k in set(props) | set(previous) if k != "LoadBalancerAttributes"}
        if any(props.get(k) != previous.get(k) for k in others):
            _log.warning(
                "%s %s changed; the emulator updates only its LoadBalancerAttributes in place, "
                "it keeps its other previous properties",
                cls.cloudformation_type(),
                original_resource.arn,
            )
        attributes = {k: v for k, v in _attributes(previous).items() if k == DELETION_PROTECTION}
        if DELETION_PROTECTION in attributes:
            attributes[DELETION_PROTECTION] = "false"
        attributes.update(_attributes(props))
        _elbv2(account_id, region_name).modify_load_balancer_attributes(original_resource.arn, attributes)
        original_resource.cfn_properties = props
        return original_resource

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _elbv2(account_id, region_name)
        if resource.arn in backend.load_balancers:
            backend.delete_load_balancer(resource.arn)


class TargetGroup(MotoDelegate, CloudFormationModel):
    """``AWS::ElasticLoadBalancingV2::TargetGroup``: moto's create, plus deletion."""

    MOTO_MODEL = MotoTargetGroup

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticLoadBalancingV2::TargetGroup"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _elbv2(account_id, region_name)
        if resource.arn in backend.target_groups:
            backend.delete_target_group(resource.arn)


class Listener(MotoDelegate, CloudFormationModel):
    """``AWS::ElasticLoadBalancingV2::Listener``: moto's create and update, plus deletion."""

    MOTO_MODEL = MotoListener

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticLoadBalancingV2::Listener"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _elbv2(account_id, region_name)
        if any(resource.arn in lb.listeners for lb in backend.load_balancers.values()):
            backend.delete_listener(resource.arn)


class ListenerRule(MotoDelegate, CloudFormationModel):
    """``AWS::ElasticLoadBalancingV2::ListenerRule``: moto's create and update, plus deletion."""

    MOTO_MODEL = MotoListenerRule

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticLoadBalancingV2::ListenerRule"

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        _elbv2(account_id, region_name).delete_rule(resource.arn)


_LOAD_BALANCER_ATTRIBUTES = {
    "LoadBalancerFullName": lambda lb: lb.arn.split(":loadbalancer/", 1)[1],
    "CanonicalHostedZoneID": lambda lb: "Z35SXDOTRQ7X7K",
    "SecurityGroups": lambda lb: list(lb.security_groups),
    "LoadBalancerArn": lambda lb: lb.arn,
}
_TARGET_GROUP_ATTRIBUTES = {
    "TargetGroupFullName": lambda tg: tg.arn.split(":", 5)[5],
    "TargetGroupName": lambda tg: tg.name,
    "TargetGroupArn": lambda tg: tg.arn,
    "LoadBalancerArns": lambda tg: list(tg.load_balancer_arns),
}


def _with_attributes(model: Any, values: dict[str, Any]) -> None:
    """Answer the ``Fn::GetAtt`` names CloudWatch alarms use (``LoadBalancerFullName``,
    ``TargetGroupFullName``), which moto leaves unimplemented, deferring to moto for the rest."""
    original = getattr(model, "get_cfn_attribute", None)

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name in values:
            return values[attribute_name](self)
        if original is None:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        return original(self, attribute_name)

    model.get_cfn_attribute = get_cfn_attribute


def _install_attributes() -> None:
    from moto.elbv2.models import FakeLoadBalancer

    _with_attributes(FakeLoadBalancer, _LOAD_BALANCER_ATTRIBUTES)
    _with_attributes(MotoTargetGroup, _TARGET_GROUP_ATTRIBUTES)


def _install_deletion_protection() -> None:
    """DeleteLoadBalancer refuses a load balancer whose deletion protection is on, as ELB does (moto
    deleted it)."""
    original = ELBv2Backend.delete_load_balancer
    if getattr(original, "_emulator_protected", False):
        return

    def delete_load_balancer(self: ELBv2Backend, arn: str) -> None:
        balancer = self.load_balancers.get(arn)
        if balancer is not None and str(balancer.attrs.get(DELETION_PROTECTION, "false")).lower() == "true":
            raise ELBClientError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            )
        original(self, arn)

    delete_load_balancer._emulator_protected = True  # type: ignore[attr-defined]
    ELBv2Backend.delete_load_balancer = delete_load_balancer  # type: ignore[method-assign]


_install_attributes()
_install_deletion_protection()
