"""KMS: ``Key`` with CloudFormation's tag shape, a JSON key policy and in-place updates."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.kms.models import KmsBackend, kms_backends

from emulator.cfn._base import Resource, as_bool, as_int, properties_of, tag_list


def _kms(account_id: str, region_name: str) -> KmsBackend:
    return kms_backends[account_id][region_name]


def _policy(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class Key(Resource, CloudFormationModel):
    """``AWS::KMS::Key``; Ref gives the key id, ``Arn`` and ``KeyId`` the obvious.

    Replaces moto's model, which failed on CloudFormation's ``Key``/``Value`` tags, stored the
    policy as an object, had no update (so every grant CDK added was lost) and deleted the key at
    once; CloudFormation schedules the deletion (``PendingWindowInDays``, default 30).
    """

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::KMS::Key"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "KeyId")

    def attributes(self) -> dict[str, Any]:
        key = _kms(self.account_id, self.region_name).describe_key(self.physical_id)
        return {"Arn": key.arn, "KeyId": key.id}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Key:
        props = properties_of(cloudformation_json)
        key = _kms(account_id, region_name).create_key(
            policy=_policy(props.get("KeyPolicy") or {}),
            key_usage=str(props.get("KeyUsage") or "ENCRYPT_DECRYPT"),
            key_spec=str(props.get("KeySpec") or "SYMMETRIC_DEFAULT"),
            description=str(props.get("Description") or ""),
            tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tag_list(props.get("Tags"))],
            multi_region=as_bool(props.get("MultiRegion")),
        )
        resource = cls(key.id, account_id, region_name, {})
        resource._configure(props)
        return resource

    def _configure(self, props: dict[str, Any]) -> None:
        backend = _kms(self.account_id, self.region_name)
        key = backend.describe_key(self.physical_id)
        key.key_rotation_status = as_bool(props.get("EnableKeyRotation"))
        key.enabled = as_bool(props.get("Enabled"), True)
        key.key_state = "Enabled" if key.enabled else "Disabled"
        self.properties = props

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        keys = ("KeySpec", "KeyUsage", "MultiRegion")
        if any(properties.get(k) != self.properties.get(k) for k in keys):
            replacement = Key.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.retire()
            return replacement
        backend = _kms(self.account_id, self.region_name)
        backend.put_key_policy(self.physical_id, _policy(properties.get("KeyPolicy") or {}))
        backend.update_key_description(self.physical_id, str(properties.get("Description") or ""))
        key = backend.describe_key(self.physical_id)
        backend.tagger.delete_all_tags_for_resource(key.id)
        backend.tag_resource(key.arn, {t["Key"]: t["Value"] for t in tag_list(properties.get("Tags"))})
        self._configure(properties)
        return self

    def delete_resource(self) -> None:
        backend = _kms(self.account_id, self.region_name)
        if self.physical_id in backend.keys and backend.keys[self.physical_id].key_state != "PendingDeletion":
            days = as_int(self.properties.get("PendingWindowInDays"), 30) or 30
            backend.schedule_key_deletion(self.physical_id, days)
