"""IAM: ``OIDCProvider`` (missing in moto), ``ManagedPolicy`` (moto could not delete it), ``Role``
(moto ignored its ``ManagedPolicyArns`` and most of its updates), and AWS managed policies that IAM's
API finds by ARN (moto knew none unless MOTO_IAM_LOAD_MANAGED_POLICIES loaded all of them)."""

from __future__ import annotations

import functools
import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, IAMBackend, iam_backends
from moto.iam.models import ManagedPolicy as MotoManagedPolicy
from moto.iam.models import Role as MotoRole
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
        named_before = cls._named_principals(policy, backend)
        for principal in cls._principals(backend):
            attached = policy.arn in principal.managed_policies
            if attached and principal not in wanted_principals and principal in named_before:
                policy.detach_from(principal)
            elif not attached and principal in wanted_principals:
                policy.attach_to(principal)
        policy.template_principals = wanted_principals
        return policy

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        policy: Any = MotoManagedPolicy.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        policy.template_principals = [
            p for p in cls._principals(_iam(account_id, region_name)) if policy.arn in p.managed_policies
        ]
        return policy

    @classmethod
    def _named_principals(cls, policy: Any, backend: IAMBackend) -> list[Any]:
        """The principals the template's Roles, Users and Groups attached: an update detaches only
        those, since a role that names the policy in its own ManagedPolicyArns keeps it."""
        named: list[Any] | None = getattr(policy, "template_principals", None)
        if named is None:
            return [p for p in cls._principals(backend) if policy.arn in p.managed_policies]
        return named

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


@functools.cache
def _aws_managed_policy_data() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(aws_managed_policies_data)
    return parsed


def _policy_for(backend: IAMBackend, arn: str) -> MotoManagedPolicy | None:
    """The managed policy of an ARN in the backend; an AWS managed one is added from moto's data when
    first named, since moto loads none of them unless MOTO_IAM_LOAD_MANAGED_POLICIES is set (and then
    all 1,582 in every account)."""
    if arn in backend.managed_policies:
        return backend.managed_policies[arn]
    prefix = f"arn:{get_partition(backend.region_name)}:iam::aws:policy/"
    if not arn.startswith(prefix):
        return None
    path_and_name = arn[len(prefix) - 1 :]
    name = path_and_name.rsplit("/", 1)[-1]
    data = _aws_managed_policy_data().get(name)
    if data is None or f"{data.get('Path') or '/'}{name}" != path_and_name:
        return None
    policy = AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data)
    backend.aws_managed_policies.append(policy)
    backend.managed_policies[policy.arn] = policy
    return policy


def _attach(backend: IAMBackend, role: MotoRole, arn: str) -> None:
    """Attach a managed policy once; IAM answers a missing one with NoSuchEntity "Policy <arn> does
    not exist or is not attachable." (https://docs.aws.amazon.com/IAM/latest/APIReference/API_AttachRolePolicy.html,
    the text moto's ``IAMBackend.attach_role_policy`` raises)."""
    if arn in role.managed_policies:
        return
    policy = _policy_for(backend, arn)
    if policy is None:
        backend.attach_role_policy(arn, role.name)  # raises IAM's NoSuchEntity
        return
    policy.attach_to(role)


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _inline_policies(props: dict[str, Any]) -> dict[str, str]:
    return {str(p["PolicyName"]): _document(p["PolicyDocument"]) for p in props.get("Policies") or []}


class Role(MotoDelegate, CloudFormationModel):
    """``AWS::IAM::Role``: moto's create plus its ``ManagedPolicyArns``, an update in place of every
    property that CloudFormation updates without interruption, and a deletion that first detaches
    and deletes the role's policies.

    Per https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html,
    ``AssumeRolePolicyDocument``, ``Description``, ``ManagedPolicyArns``, ``MaxSessionDuration``,
    ``PermissionsBoundary``, ``Policies`` and ``Tags`` update with no interruption; ``Path`` and
    ``RoleName`` require replacement (the type's registry schema lists them as createOnlyProperties,
    see ``infra.resource_schemas``). moto's own model ignored ``ManagedPolicyArns``, and its update
    changed only the description and read ``MaxSessionDuration`` from ``RoleDescription``.
    """

    MOTO_MODEL = MotoRole

    @staticmethod
    def cloudformation_name_type() -> str:
        return "RoleName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::Role"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        role = MotoRole.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        backend = _iam(account_id, region_name)
        # moto keeps an inline policy given as an object as it is, and IAM's GetRolePolicy then answers
        # its Python repr, which no client can read: store the JSON text, as IAM does.
        for name, document in _inline_policies(properties_of(cloudformation_json)).items():
            role.put_policy(name, document)
        try:
            for arn in properties_of(cloudformation_json).get("ManagedPolicyArns") or []:
                _attach(backend, role, str(arn))
        except Exception:
            cls.delete_stack_resource(role, account_id, region_name)
            raise
        cls._remember(role, properties_of(cloudformation_json))
        return role

    @staticmethod
    def _remember(role: Any, props: dict[str, Any]) -> None:
        """Keep the template's inline policy names and managed policy ARNs on the role: an update
        deletes or detaches only those the template drops, as CloudFormation applies the difference
        between the old and new template, and keeps what was put or attached by API."""
        role.template_policy_names = list(_inline_policies(props))
        role.template_policy_arns = [str(arn) for arn in props.get("ManagedPolicyArns") or []]

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
        role: MotoRole = original_resource
        if props.get("RoleName", role.name) != role.name or (props.get("Path") or "/") != role.path:
            replacement = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            cls.delete_stack_resource(role, account_id, region_name)
            return replacement
        backend = _iam(account_id, region_name)
        if "AssumeRolePolicyDocument" in props:
            backend.update_assume_role_policy(role.name, _document(props["AssumeRolePolicyDocument"]))
        role.description = str(props.get("Description") or "")
        role.max_session_duration = props.get("MaxSessionDuration", 3600)
        if props.get("PermissionsBoundary"):
            backend.put_role_permissions_boundary(role.name, str(props["PermissionsBoundary"]))
        else:
            backend.delete_role_permissions_boundary(role.name)
        inline = _inline_policies(props)
        named_before = getattr(role, "template_policy_names", list(role.policies))
        for name in [n for n in named_before if n in role.policies and n not in inline]:
            role.delete_policy(name)
        for name, document in inline.items():
            role.put_policy(name, document)
        wanted = [str(arn) for arn in props.get("ManagedPolicyArns") or []]
        for arn in wanted:
            _attach(backend, role, arn)
        attached_before = getattr(role, "template_policy_arns", list(role.managed_policies))
        for arn in [a for a in attached_before if a in role.managed_policies and a not in wanted]:
            role.managed_policies[arn].detach_from(role)
        cls._remember(role, props)
        tags = tag_list(props.get("Tags"))
        role.tags = [backend._tag_verification(tags)[t["Key"].lower()] for t in tags]
        return role

    @classmethod
    def delete_stack_resource(cls, resource: Any, account_id: str, region_name: str) -> None:
        """IAM deletes a role only once its inline policies are deleted, its managed policies detached
        and it is out of every instance profile (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html);
        CloudFormation does all three."""
        backend = _iam(account_id, region_name)
        role: MotoRole = resource
        if role.id not in backend.roles:
            return
        for profile in backend.instance_profiles.values():
            profile.delete_role(role_name=role.name)
        for name in list(role.policies):
            role.delete_policy(name)
        for policy in list(role.managed_policies.values()):
            policy.detach_from(role)
        for inline in backend.inline_policies.values():
            inline.role_names = [n for n in inline.role_names if n != role.name]
        backend.delete_role(role.name)


_BY_POLICY_ARN = (
    "get_policy",
    "get_policy_version",
    "list_policy_versions",
    "attach_role_policy",
    "attach_user_policy",
    "attach_group_policy",
)


def install_aws_managed_policies() -> None:
    """Let IAM's API find an AWS managed policy by its ARN, as AWS does in every account
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies):
    each call that takes a policy ARN first adds the named one from moto's data; idempotent."""
    for method in _BY_POLICY_ARN:
        original = getattr(IAMBackend, method)
        if getattr(original, "emulator_adds_aws_policies", False):
            continue

        def wrapper(self: IAMBackend, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            arn = kwargs.get("policy_arn", args[0] if args else None)
            if isinstance(arn, str):
                _policy_for(self, arn)
            return _original(self, *args, **kwargs)

        functools.update_wrapper(wrapper, original)
        wrapper.emulator_adds_aws_policies = True  # type: ignore[attr-defined]
        setattr(IAMBackend, method, wrapper)
