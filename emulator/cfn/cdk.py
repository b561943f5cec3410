"""CDK: ``AWS::CDK::Metadata`` and the custom resources whose CDK-provided handlers are emulated natively.

Nothing runs Lambda code here, so a custom resource normally completes without running its provider
(``cloudformation.CustomResource``). For the CDK's own handlers the effect is well defined, and the
models below apply it with moto's backends, as the handler would through the AWS APIs, so that the
plain APIs show the result:

- ``Custom::S3BucketNotifications`` (BucketNotificationsHandler): the bucket's notification
  configuration;
- ``Custom::VpcRestrictDefaultSG``: the default security group of a VPC without its default rules;
- ``Custom::LogRetention``: a log group and its retention.

They are routed by type through ``NATIVE_CUSTOM_RESOURCES`` (see ``engine.resource_class_from_type``),
not through moto's model map, so they subclass ``CustomResource`` rather than ``CloudFormationModel``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.logs.models import LogsBackend, logs_backends
from moto.s3.models import FakeBucket, S3Backend, s3_backends
from moto.utilities.utils import get_partition

from emulator.cfn._base import Resource, ResourceError, as_bool, as_int, properties_of, random_suffix
from emulator.cfn.cloudformation import CustomResource

log = logging.getLogger("emulator.cfn")


class CdkMetadata(Resource, CloudFormationModel):
    """Accepted and ignored, as on AWS; moto did not know the type."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CDK::Metadata"

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
    ) -> CdkMetadata:
        physical_id = f"{kwargs.get('LogicalId', 'CDKMetadata')}-{random_suffix()}"
        return cls(physical_id, account_id, region_name, properties_of(cloudformation_json))


class NativeCustomResource(CustomResource):
    """A CDK-provided custom resource whose handler is emulated: ``apply`` on create and update,
    ``remove`` on delete, both given the resource's properties."""

    def __init__(
        self,
        physical_id: str,
        account_id: str,
        region_name: str,
        properties: Mapping[str, Any],
        stack_id: str = "",
    ):
        super().__init__(physical_id, account_id, region_name, properties)
        self.stack_id = stack_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> NativeCustomResource:
        properties = properties_of(cloudformation_json)
        resource = cls(
            cls.physical_id_of(properties, str(kwargs.get("LogicalId", "Custom"))),
            account_id,
            region_name,
            properties,
            stack_id=str(kwargs.get("StackId", "")),
        )
        resource.apply(None)
        return resource

    @classmethod
    def physical_id_of(cls, properties: Mapping[str, Any], logical_id: str) -> str:
        return f"{logical_id}-{random_suffix()}"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.attributes().get(attribute_name, "")

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        old = self.properties
        self.properties = properties
        try:
            self.apply(old)
        except Exception:
            self.properties = old
            raise
        return self

    def delete_resource(self) -> None:
        self.remove()

    def apply(self, old: dict[str, Any] | None) -> None:
        """Do what the handler does on Create (``old`` is None) or Update (``old`` are the previous
        properties)."""
        raise NotImplementedError

    def remove(self) -> None:
        """Do what the handler does on Delete."""
        raise NotImplementedError


# --- Custom::S3BucketNotifications --------------------------------------------------------------

# (template key, moto key, ARN key of the template, ARN key of moto, ARN service)
_NOTIFICATION_KINDS = (
    ("TopicConfigurations", "TopicConfiguration", "TopicArn", "Topic", "sns"),
    ("QueueConfigurations", "QueueConfiguration", "QueueArn", "Queue", "sqs"),
    (
        "LambdaFunctionConfigurations",
        "CloudFunctionConfiguration",
        "LambdaFunctionArn",
        "CloudFunction",
        "lambda",
    ),
)
_EVENTBRIDGE = "EventBridgeConfiguration"


def _s3(account_id: str, region_name: str) -> S3Backend:
    return s3_backends[account_id][get_partition(region_name)]


def _notification(entry: Any, arn_key: str, moto_arn_key: str, service: str) -> dict[str, Any]:
    """One notification of the template in the shape moto parses from PutBucketNotificationConfiguration."""
    if not isinstance(entry, Mapping):
        raise ResourceError("each notification configuration must be an object")
    arn = str(entry.get(arn_key) or "")
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
        raise ResourceError(f"InvalidArgument: The ARN is not well formed: {arn!r} ({arn_key})")
    events = entry.get("Events")
    if not events or not isinstance(events, list):
        raise ResourceError(f"InvalidArgument: a notification to {arn} needs Events")
    result: dict[str, Any] = {moto_arn_key: arn, "Event": [str(e) for e in events]}
    if entry.get("Id"):
        result["Id"] = str(entry["Id"])
    key_filter = entry.get("Filter") or {}
    key_filter = key_filter.get("Key") or {} if isinstance(key_filter, Mapping) else None
    rules = key_filter.get("FilterRules") or [] if isinstance(key_filter, Mapping) else None
    if not isinstance(rules, list):
        raise ResourceError(f"InvalidArgument: the Filter of a notification to {arn} is malformed")
    if rules:
        filter_rules = []
        for rule in rules:
            name = str(rule.get("Name", "")).lower() if isinstance(rule, Mapping) else ""
            if name not in ("prefix", "suffix") or not rule.get("Value"):
                raise ResourceError(
                    "InvalidArgument: filter rule name must be either prefix or suffix, with a value"
                )
            # lower case: moto matches object keys against "prefix" and "suffix" only
            filter_rules.append({"Name": name, "Value": str(rule["Value"])})
        result["Filter"] = {"S3Key": {"FilterRule": filter_rules}}
    return result


def _moto_configuration(configuration: Any) -> dict[str, Any]:
    """A template's NotificationConfiguration in the shape of moto's put_bucket_notification_configuration."""
    if not isinstance(configuration, Mapping):
        raise ResourceError("NotificationConfiguration must be an object")
    result: dict[str, Any] = {}
    for key, moto_key, arn_key, moto_arn_key, service in _NOTIFICATION_KINDS:
        entries = configuration.get(key) or []
        if entries:
            result[moto_key] = [_notification(e, arn_key, moto_arn_key, service) for e in entries]
    if _EVENTBRIDGE in configuration:
        result[_EVENTBRIDGE] = {}
    return result


def _current_configuration(bucket: FakeBucket) -> dict[str, Any]:
    """The bucket's notifications as moto holds them, in the shape of the put call."""
    current = bucket.notification_configuration
    if current is None:
        return {}
    result: dict[str, Any] = {}
    for attribute, (_, moto_key, _, moto_arn_key, _) in zip(
        ("topic", "queue", "cloud_function"), _NOTIFICATION_KINDS, strict=True
    ):
        entries = [
            {"Id": n.id, moto_arn_key: n.arn, "Event": list(n.events)}
            | ({"Filter": n.filters} if n.filters else {})
            for n in getattr(current, attribute)
        ]
        if entries:
            result[moto_key] = entries
    if current.event_bridge is not None:
        result[_EVENTBRIDGE] = {}
    return result


def _entries(configuration: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(moto key, notifications) of each kind that a moto-shaped configuration has."""
    return [(kind[1], configuration[kind[1]]) for kind in _NOTIFICATION_KINDS if configuration.get(kind[1])]


def _destinations(configuration: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(ARN, service) of every destination of a moto-shaped configuration."""
    return [
        (str(entry[moto_arn_key]), service)
        for _, moto_key, _, moto_arn_key, service in _NOTIFICATION_KINDS
        for entry in configuration.get(moto_key) or []
    ]


def _destination_exists(arn: str, service: str) -> bool:
    parts = arn.split(":")
    account_id, region_name = parts[4], parts[3]
    try:
        if service == "lambda":
            from moto.awslambda.utils import get_backend

            get_backend(account_id, region_name).get_function(arn)
        elif service == "sqs":
            from moto.sqs.models import sqs_backends

            sqs_backends[account_id][region_name].get_queue(parts[5])
        else:
            from moto.sns.models import sns_backends

            sns_backends[account_id][region_name].get_topic(arn)
    except Exception:
        return False
    return True


class S3BucketNotifications(NativeCustomResource):
    """``Custom::S3BucketNotifications``: the bucket's notification configuration, as CDK's
    BucketNotificationsHandler puts it.

    ``Managed`` (the default, a bucket of this stack) replaces the whole configuration, and a delete
    removes it. Unmanaged (an imported bucket) keeps the notifications that others put: those of
    this resource carry an id that starts with the stack id, as the handler's do. Unless
    ``SkipDestinationValidation`` is true, every destination must exist (S3 sends it a test event),
    or the resource fails as on AWS. A delete of a bucket that is already gone does nothing.
    """

    def apply(self, old: dict[str, Any] | None) -> None:
        props = self.properties
        bucket_name = str(props.get("BucketName") or "")
        if not bucket_name:
            raise ResourceError("BucketName is required")
        incoming = _moto_configuration(props.get("NotificationConfiguration") or {})
        if not as_bool(props.get("SkipDestinationValidation"), False):
            missing = [
                arn for arn, service in _destinations(incoming) if not _destination_exists(arn, service)
            ]
            if missing:
                raise ResourceError(
                    "Unable to validate the following destination configurations: " + ", ".join(missing)
                )
        backend = _s3(self.account_id, self.region_name)
        bucket = backend.get_bucket(bucket_name)
        if as_bool(props.get("Managed"), True):
            backend.put_bucket_notification_configuration(bucket_name, incoming)
            return
        previous: set[str] = set()
        if old is not None:
            old_incoming = _moto_configuration(old.get("NotificationConfiguration") or {})
            previous = {self._id_of(entry) for _, entries in _entries(old_incoming) for entry in entries}
        configuration = self._external(bucket, lambda notification_id: notification_id in previous)
        for moto_key, entries in _entries(incoming):
            ours = [{**entry, "Id": self._id_of(entry)} for entry in entries]
            configuration[moto_key] = configuration.get(moto_key, []) + ours
        if _EVENTBRIDGE in incoming:
            configuration[_EVENTBRIDGE] = {}
        backend.put_bucket_notification_configuration(bucket_name, configuration)

    def remove(self) -> None:
        bucket_name = str(self.properties.get("BucketName") or "")
        backend = _s3(self.account_id, self.region_name)
        if bucket_name not in backend.buckets:
            return
        configuration: dict[str, Any] = {}
        if not as_bool(self.properties.get("Managed"), True):
            prefix = f"{self.stack_id}-"
            configuration = self._external(
                backend.get_bucket(bucket_name), lambda notification_id: notification_id.startswith(prefix)
            )
        backend.put_bucket_notification_configuration(bucket_name, configuration)

    def _id_of(self, entry: Mapping[str, Any]) -> str:
        """The id the handler gives a notification of this stack: the stack id and a hash of it."""
        content = json.dumps({k: v for k, v in entry.items() if k != "Id"}, sort_keys=True)
        return f"{self.stack_id}-{int(hashlib.sha256(content.encode()).hexdigest()[:15], 16)}"

    @staticmethod
    def _external(bucket: FakeBucket, is_ours: Callable[[str], bool]) -> dict[str, Any]:
        """The bucket's current notifications except those ``is_ours`` claims by id."""
        current = _current_configuration(bucket)
        external: dict[str, Any] = {}
        for moto_key, entries in _entries(current):
            kept = [entry for entry in entries if not is_ours(str(entry.get("Id", "")))]
            if kept:
                external[moto_key] = kept
        if _EVENTBRIDGE in current:
            external[_EVENTBRIDGE] = {}
        return external


# --- Custom::VpcRestrictDefaultSG ---------------------------------------------------------------


def _ec2(account_id: str, region_name: str) -> EC2Backend:
    return ec2_backends[account_id][region_name]


def _is_default_egress(rule: SecurityGroupRule) -> bool:
    return rule.ip_protocol == "-1" and rule.ip_range.get("CidrIp") == "0.0.0.0/0" and not rule.source_group


def _is_default_ingress(rule: SecurityGroupRule, group_id: str) -> bool:
    return rule.ip_protocol == "-1" and not rule.ip_range and rule.source_group.get("GroupId") == group_id


class VpcRestrictDefaultSG(NativeCustomResource):
    """``Custom::VpcRestrictDefaultSG``: the VPC's default security group without its default rules.

    As CDK's handler does, the egress rule to 0.0.0.0/0 and the ingress rule from the group itself
    (which moto's default groups do not have) are revoked; rules added by others stay. A delete, or
    an update to another group, puts back the rules this resource revoked (the handler re-adds the
    two AWS defaults); nothing is put back into a group that is gone.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.group_id = ""
        self.revoked_egress: list[SecurityGroupRule] = []
        self.revoked_ingress: list[SecurityGroupRule] = []

    def apply(self, old: dict[str, Any] | None) -> None:
        group_id = str(self.properties.get("DefaultSecurityGroupId") or "")
        if not group_id:
            raise ResourceError("DefaultSecurityGroupId is required")
        if group_id == self.group_id:
            return
        group = _ec2(self.account_id, self.region_name).get_security_group_by_name_or_id(group_id)
        if group is None:
            raise ResourceError(f"InvalidGroup.NotFound: The security group '{group_id}' does not exist")
        self._restore()
        self.group_id = group_id
        self.revoked_egress = [rule for rule in group.egress_rules if _is_default_egress(rule)]
        self.revoked_ingress = [rule for rule in group.ingress_rules if _is_default_ingress(rule, group_id)]
        group.egress_rules = [rule for rule in group.egress_rules if not _is_default_egress(rule)]
        group.ingress_rules = [
            rule for rule in group.ingress_rules if not _is_default_ingress(rule, group_id)
        ]

    def remove(self) -> None:
        self._restore()

    def _restore(self) -> None:
        backend = _ec2(self.account_id, self.region_name)
        group = backend.get_security_group_by_name_or_id(self.group_id) if self.group_id else None
        if group is not None:
            group.egress_rules += [rule for rule in self.revoked_egress if rule not in group.egress_rules]
            group.ingress_rules += [rule for rule in self.revoked_ingress if rule not in group.ingress_rules]
        self.group_id = ""
        self.revoked_egress, self.revoked_ingress = [], []


# --- Custom::LogRetention -----------------------------------------------------------------------

_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
)  # fmt: skip


def _logs(account_id: str, region_name: str) -> LogsBackend:
    return logs_backends[account_id][region_name]


class LogRetention(NativeCustomResource):
    """``Custom::LogRetention``: the log group ``LogGroupName`` (in ``LogGroupRegion``), created if
    missing, with ``RetentionInDays`` (none: never expire), as CDK's LogRetention handler sets it.

    The physical id and the ``LogGroupName`` attribute are the group's name. The group outlives the
    resource unless ``RemovalPolicy`` is ``destroy``. The handler's own log group
    (``/aws/lambda/<handler>``, which it gives a one-day retention) is not created: nothing ran.
    """

    @classmethod
    def physical_id_of(cls, properties: Mapping[str, Any], logical_id: str) -> str:
        return str(properties.get("LogGroupName") or "")

    def attributes(self) -> dict[str, Any]:
        return {"LogGroupName": self.physical_id}

    def _target(self, properties: Mapping[str, Any]) -> tuple[LogsBackend, str]:
        name = str(properties.get("LogGroupName") or "")
        if not name:
            raise ResourceError("LogGroupName is required")
        region = str(properties.get("LogGroupRegion") or self.region_name)
        return _logs(self.account_id, region), name

    def apply(self, old: dict[str, Any] | None) -> None:
        backend, name = self._target(self.properties)
        retention = as_int(self.properties.get("RetentionInDays"))
        if retention is not None and retention not in _RETENTION_DAYS:
            raise ResourceError(
                f"InvalidParameterException: retentionInDays {retention} is not one of "
                f"{', '.join(str(d) for d in _RETENTION_DAYS)}"
            )
        if name not in backend.groups:
            backend.create_log_group(name, tags={})
        if retention is None:
            backend.delete_retention_policy(name)
        else:
            backend.put_retention_policy(name, retention)  # type: ignore[arg-type]
        # a new name is a new physical id: CloudFormation then sends Delete for the old one,
        # unless the resource's UpdateReplacePolicy keeps it
        renamed = old is not None and self._target(old) != (backend, name)
        if old is not None and renamed and getattr(self, "update_replace_policy", "Delete") == "Delete":
            self._delete_group(old)
        self.physical_id = name

    def remove(self) -> None:
        self._delete_group(self.properties)

    def _delete_group(self, properties: Mapping[str, Any]) -> None:
        """What the handler does on Delete (sent for the old group when an update renamed it)."""
        if str(properties.get("RemovalPolicy") or "").lower() != "destroy":
            return
        backend, name = self._target(properties)
        if name in backend.groups:
            backend.delete_log_group(name)


NATIVE_CUSTOM_RESOURCES: dict[str, type[CustomResource]] = {
    "Custom::S3BucketNotifications": S3BucketNotifications,
    "Custom::VpcRestrictDefaultSG": VpcRestrictDefaultSG,
    "Custom::LogRetention": LogRetention,
}
