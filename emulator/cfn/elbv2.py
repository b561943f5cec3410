"""Elastic Load Balancing v2: ``TargetGroup``, ``Listener`` and ``ListenerRule`` keep moto's create and
gain the deletion moto lacked."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.elbv2.models import ELBv2Backend, elbv2_backends
from moto.elbv2.models import FakeListener as MotoListener
from moto.elbv2.models import FakeListenerRule as MotoListenerRule
from moto.elbv2.models import FakeTargetGroup as MotoTargetGroup

from emulator.cfn._base import MotoDelegate


def _elbv2(account_id: str, region_name: str) -> ELBv2Backend:
    return elbv2_backends[account_id][region_name]


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


_install_attributes()
