"""Shared helpers of our CloudFormation resource models (this module defines no model itself)."""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Mapping
from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.moto_api._internal import mock_random

_log = logging.getLogger("emulator.cfn")
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(secretsmanager|ssm-secure|ssm):([^}]*)\}\}")


class ResourceError(Exception):
    """The template asks for something AWS would refuse; the message is shown as the failure reason."""


class Resource:
    """State of one resource created by our models; the object moto keeps in the stack's resource map.

    Mixed into each model class, which must itself subclass ``CloudFormationModel`` directly,
    because moto only collects direct subclasses.
    """

    cf_resource_type: str
    logical_resource_id: str
    deletion_policy = "Delete"
    update_replace_policy = "Delete"
    """Set by the engine before an update: what becomes of this resource when a replacement supersedes it."""

    def __init__(self, physical_id: str, account_id: str, region_name: str, properties: Mapping[str, Any]):
        self.physical_id = physical_id
        self.account_id = account_id
        self.region_name = region_name
        self.properties: dict[str, Any] = dict(properties)

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    def retire(self) -> None:
        """Delete this resource after a replacement took its place, unless its UpdateReplacePolicy
        keeps it (Retain, or Snapshot, whose snapshot the emulator does not model)."""
        if self.update_replace_policy == "Delete":
            self.delete_resource()

    def attributes(self) -> dict[str, Any]:
        """Values of ``Fn::GetAtt``; overridden per type."""
        return {}

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        values = self.attributes()
        if attribute_name in values:
            return values[attribute_name]
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        """Apply changed properties in place; types with real updates override this."""
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        """Remove what the resource created; types that create something override this."""

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        return original_resource.update_properties(properties_of(cloudformation_json), new_resource_name)

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        resource.delete_resource()


def properties_of(cloudformation_json: Mapping[str, Any]) -> dict[str, Any]:
    props = cloudformation_json.get("Properties") or {}
    return dict(props) if isinstance(props, Mapping) else {}


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    return int(float(value))


def tag_list(tags: Any) -> list[dict[str, str]]:
    """CloudFormation tags (a list of Key/Value, or a map for some types) as a Key/Value list."""
    if isinstance(tags, Mapping):
        return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    if isinstance(tags, list):
        return [
            {"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in tags if isinstance(t, Mapping)
        ]
    return []


def tag_dict(tags: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list(tags)}


def random_suffix(size: int = 12, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(mock_random.choice(alphabet) for _ in range(size))


def physical_name(resource_name: str, max_length: int = 63, lower: bool = True) -> str:
    """A valid AWS identifier from moto's generated ``<stack>-<logical id>-<suffix>`` name."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", resource_name)
    name = re.sub(r"-{2,}", "-", name).strip("-")
    if lower:
        name = name.lower()
    if not name or not name[0].isalpha():
        name = "r" + name
    if len(name) > max_length:
        suffix = name.rsplit("-", 1)[-1][:13]
        name = name[: max_length - len(suffix) - 1].rstrip("-") + "-" + suffix
    return name


def resolve_dynamic_references(text: str, account_id: str, region_name: str) -> str:
    """Replace ``{{resolve:secretsmanager:...}}`` and ``{{resolve:ssm:...}}`` with the stored values.

    CloudFormation resolves these when it provisions a resource; moto passed them through as
    literal text, so e.g. a cluster's master password became the reference string itself.
    """

    def replace(match: re.Match[str]) -> str:
        service, body = match.group(1), match.group(2)
        if service == "secretsmanager":
            return _resolve_secret(body, account_id, region_name)
        return _resolve_parameter(body, account_id, region_name)

    return _DYNAMIC_REFERENCE.sub(replace, text)


def _resolve_secret(body: str, account_id: str, region_name: str) -> str:
    from moto.secretsmanager.models import secretsmanager_backends

    parts = body.split(":")
    if body.startswith("arn:"):
        secret_id, rest = ":".join(parts[:7]), parts[7:]
    else:
        secret_id, rest = parts[0], parts[1:]
    rest += [""] * (4 - len(rest))
    _, json_key, version_stage, version_id = rest[:4]
    backend = secretsmanager_backends[account_id][region_name]
    try:
        value = backend.get_secret_value(
            secret_id,
            version_id or None,  # type: ignore[arg-type]
            version_stage or (None if version_id else "AWSCURRENT"),  # type: ignore[arg-type]
        )
    except Exception as error:
        raise ResourceError(f"Secrets Manager can't find the specified secret: {secret_id}") from error
    secret_string = str(value.get("SecretString") or "")
    if not json_key:
        return secret_string
    try:
        data = json.loads(secret_string)
    except ValueError as error:
        raise ResourceError(f"Could not parse SecretString JSON of secret {secret_id}") from error
    if json_key not in data:
        raise ResourceError(f"Could not find SecretString JSON key {json_key} in secret {secret_id}")
    return str(data[json_key])


def _resolve_parameter(body: str, account_id: str, region_name: str) -> str:
    from moto.ssm.models import ssm_backends

    name, _, version = body.rpartition(":")
    if not name or not version.isdigit():
        name, version = body, ""
    parameter = ssm_backends[account_id][region_name].get_parameter(f"{name}:{version}" if version else name)
    if parameter is None:
        raise ResourceError(f"Parameter {name} not found")
    return str(parameter.value)


class MotoDelegate:
    """Mixin for a model that keeps moto's create (and update, where moto has one) for a type but
    adds what moto lacks, usually deletion through ``delete_stack_resource``.

    The concrete class sets ``MOTO_MODEL`` and subclasses ``CloudFormationModel`` directly.
    """

    MOTO_MODEL: ClassVar[Any]

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return bool(cls.MOTO_MODEL.has_cfn_attr(attr))

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        return cls.MOTO_MODEL.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        update = cls.MOTO_MODEL.update_from_cloudformation_json
        if getattr(update, "__isabstractmethod__", False):
            _log.warning(
                "%s %s changed; the emulator cannot update this type in place, "
                "it keeps its previous properties",
                cls.MOTO_MODEL.cloudformation_type(),
                getattr(original_resource, "physical_resource_id", "?"),
            )
            return original_resource
        return update(
            original_resource=original_resource,
            new_resource_name=new_resource_name,
            cloudformation_json=cloudformation_json,
            account_id=account_id,
            region_name=region_name,
        )
