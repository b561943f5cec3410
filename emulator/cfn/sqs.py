"""SQS: ``QueuePolicy``, missing in moto's CloudFormation."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sqs.models import SQSBackend, sqs_backends

from emulator.cfn._base import Resource, properties_of, random_suffix


def _sqs(account_id: str, region_name: str) -> SQSBackend:
    return sqs_backends[account_id][region_name]


def _queue_name(url_or_name: str) -> str:
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]


class QueuePolicy(Resource, CloudFormationModel):
    """``AWS::SQS::QueuePolicy``: the document becomes each queue's ``Policy`` attribute."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

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
    ) -> QueuePolicy:
        props = properties_of(cloudformation_json)
        physical_id = f"{kwargs.get('LogicalId', 'QueuePolicy')}-{random_suffix()}"
        resource = cls(physical_id, account_id, region_name, {})
        resource._apply(props)
        return resource

    def _apply(self, props: dict[str, Any]) -> None:
        backend = _sqs(self.account_id, self.region_name)
        document = props.get("PolicyDocument")
        policy = document if isinstance(document, str) else json.dumps(document)
        for queue in props.get("Queues") or []:
            backend.set_queue_attributes(_queue_name(str(queue)), {"Policy": policy})
        self.properties = props

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        self.delete_resource()
        self._apply(properties)
        return self

    def delete_resource(self) -> None:
        backend = _sqs(self.account_id, self.region_name)
        for queue in self.properties.get("Queues") or []:
            name = _queue_name(str(queue))
            if name in backend.queues:
                backend.queues[name].policy = None
