"""SNS: ``TopicPolicy`` and ``Subscription``, missing in moto's CloudFormation."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sns.models import SNSBackend, sns_backends

from emulator.cfn._base import Resource, properties_of, random_suffix


def _sns(account_id: str, region_name: str) -> SNSBackend:
    return sns_backends[account_id][region_name]


class TopicPolicy(Resource, CloudFormationModel):
    """``AWS::SNS::TopicPolicy``: the document becomes each topic's ``Policy`` attribute."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def attributes(self) -> dict[str, Any]:
        return {"Id": self.physical_id}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TopicPolicy:
        physical_id = f"{kwargs.get('LogicalId', 'TopicPolicy')}-{random_suffix()}"
        resource = cls(physical_id, account_id, region_name, {})
        resource._apply(properties_of(cloudformation_json))
        return resource

    def _apply(self, props: dict[str, Any]) -> None:
        document = props.get("PolicyDocument")
        policy = document if isinstance(document, str) else json.dumps(document)
        for topic in props.get("Topics") or []:
            _sns(self.account_id, self.region_name).set_topic_attribute(str(topic), "Policy", policy)
        self.properties = props

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self._apply(properties)
        return self

    def delete_resource(self) -> None:
        """Without a TopicPolicy a topic has its default policy again, as on AWS."""
        backend = _sns(self.account_id, self.region_name)
        for arn in self.properties.get("Topics") or []:
            topic = backend.topics.get(str(arn))
            if topic is not None:
                topic._policy_json = topic._create_default_topic_policy(
                    self.region_name, self.account_id, topic.name
                )


class Subscription(Resource, CloudFormationModel):
    """``AWS::SNS::Subscription``: a subscription of the topic, listed by ListSubscriptionsByTopic."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def attributes(self) -> dict[str, Any]:
        return {"Arn": self.physical_id}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Subscription:
        props = properties_of(cloudformation_json)
        subscription = _sns(account_id, region_name).subscribe(
            str(props["TopicArn"]), str(props["Endpoint"]), str(props["Protocol"])
        )
        return cls(subscription.arn, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.delete_resource()
        return Subscription.create_from_cloudformation_json(
            new_resource_name, {"Properties": properties}, self.account_id, self.region_name
        )

    def delete_resource(self) -> None:
        backend = _sns(self.account_id, self.region_name)
        if self.physical_id in backend.subscriptions:
            backend.unsubscribe(self.physical_id)
