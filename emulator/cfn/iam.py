"""IAM: ``OIDCProvider`` (missing in moto) and ``ManagedPolicy`` (moto could not delete it)."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.models import IAMBackend, iam_backends
from moto.iam.models import ManagedPolicy as MotoManagedPolicy
from moto.utilities.utils import get_partition

from emulator.cfn._base import MotoDelegate, Resource, ResourceError, properties_of, tag_list


def _iam(account_id: str, region_name: str) -> IAMBackend:
    return iam_backends[account_id][get_partition(region_name)]


class OidcProvider(Resource, CloudFormationModel):
    """``AWS::IAM::OIDCProvider`` (e.g. CircleCI or Vercel federation); Ref and ``Arn`` give its ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::OIDCProvider"

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
    ) -> OidcProvider:
        props = properties_of(cloudformation_json)
        if not props.get("Url"):
            raise ResourceError("OIDCProvider needs Url")
        provider = _iam(account_id, region_name).create_open_id_connect_provider(
            url=str(props["Url"]),
            thumbprint_list=[str(t) for t in props.get("ThumbprintList") or []],
            client_id_list=[str(c) for c in props.get("ClientIdList") or []],
            tags=tag_list(props.get("Tags")),
        )
        return cls(provider.arn, account_id, region_name, props)

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if properties.get("Url") != self.properties.get("Url"):
            replacement = OidcProvider.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        provider = _iam(self.account_id, self.region_name).get_open_id_connect_provider(self.physical_id)
        provider.thumbprint_list = [str(t) for t in properties.get("ThumbprintList") or []]
        provider.client_id_list = [str(c) for c in properties.get("ClientIdList") or []]
        provider.tags = {t["Key"]: t for t in tag_list(properties.get("Tags"))}
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        _iam(self.account_id, self.region_name).delete_open_id_connect_provider(self.physical_id)


class ManagedPolicy(MotoDelegate, CloudFormationModel):
    """``AWS::IAM::ManagedPolicy``: moto's create, plus an update (a new default policy version and
    the attachments of the template) and deletion (detached from every principal first, as
    CloudFormation does); moto had neither, so grants added later never reached the policy."""

    MOTO_MODEL = MotoManagedPolicy

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::ManagedPolicy"

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
        if (
            props.get("ManagedPolicyName", original_resource.name) != original_resource.name
            or (props.get("Path") or "/") != original_resource.path
        ):
            replacement = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            cls.delete_stack_resource(original_resource, account_id, region_name)
            return replacement
        backend = _iam(account_id, region_name)
        policy = original_resource
        document = json.dumps(props.get("PolicyDocument"))
        current = next((v.document for v in policy.versions if v.is_default), None)
        if json.loads(document) != json.loads(current or "null"):
            for version in [v for v in policy.versions if not v.is_default]:
                backend.delete_policy_version(policy.arn, version.version_id)
            backend.create_policy_version(policy.arn, document, set_as_default=True)
        wanted: list[tuple[Any, str]] = [
            *((backend.get_role(str(n)), "role") for n in props.get("Roles") or []),
            *((backend.get_user(str(n)), "user") for n in props.get("Users") or []),
            *((backend.get_group(str(n)), "group") for n in props.get("Groups") or []),
        ]
        wanted_principals = [principal for principal, _ in wanted]
        for principal in cls._principals(backend):
            attached = policy.arn in principal.managed_policies
            if attached and principal not in wanted_principals:
                policy.detach_from(principal)
            elif not attached and principal in wanted_principals:
                policy.attach_to(principal)
        return policy

    @staticmethod
    def _principals(backend: IAMBackend) -> list[Any]:
        return [*backend.roles.values(), *backend.users.values(), *backend.groups.values()]

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        backend = _iam(account_id, region_name)
        if resource.arn not in backend.managed_policies:
            return
        for principal in cls._principals(backend):
            if resource.arn in principal.managed_policies:
                resource.detach_from(principal)
        backend.delete_policy(resource.arn)
