"""Fixes to moto's CloudFormation engine on the path that the CDK CLI takes.

Each fix replaces one moto function or method at install time; the docstring of each replacement
says which moto behaviour it corrects. Nothing here changes moto on disk.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.exceptions import (
    AlreadyExistsException,
    CloudFormationError,
    UnformattedGetAttTemplateException,
    ValidationError,
)
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models.core import TaggedEC2Resource
from werkzeug.exceptions import HTTPException

from emulator.cfn._base import ResourceError, resolve_dynamic_references
from infra.resource_schemas import create_only_properties

log = logging.getLogger("emulator.cfn")

Stack = cfn_models.Stack
ChangeSet = cfn_models.ChangeSet
Backend = cfn_models.CloudFormationBackend
ResourceMap = parsing.ResourceMap

RETAINED = ("Retain", "RetainExceptOnCreate")
_original_resource_class_from_type = parsing.resource_class_from_type
_original_clean_json = parsing.clean_json
_original_parse_and_create_resource = parsing.parse_and_create_resource
_original_delete_resource = ResourceMap._delete_resource


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


class ResourceFailure(Exception):
    """A resource of a stack could not be created, updated or deleted; carries its logical id."""

    def __init__(self, logical_id: str, resource_type: str, cause: BaseException) -> None:
        super().__init__(f"{logical_id} ({resource_type}): {_reason(cause)}")
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.cause = cause


def _reason(error: BaseException) -> str:
    if isinstance(error, ResourceFailure):
        return f"{error.logical_id} ({error.resource_type}): {_reason(error.cause)}"
    message = getattr(error, "message", None) or getattr(error, "description", None) or str(error)
    return f"{type(error).__name__}: {message}" if not isinstance(error, ResourceError) else str(message)


def _cause(error: BaseException) -> str:
    return _reason(error.cause) if isinstance(error, ResourceFailure) else _reason(error)


def _expected(error: BaseException) -> bool:
    """Errors that AWS itself would raise for a bad template; anything else is an emulator bug."""
    cause = error.cause if isinstance(error, ResourceFailure) else error
    return isinstance(
        cause, ServiceException | HTTPException | ResourceError | UnformattedGetAttTemplateException
    )


def _report(stack: Any, action: str, error: BaseException) -> None:
    if _expected(error):
        log.warning("stack %s: %s failed: %s", stack.name, action, _reason(error))
    else:
        log.error("stack %s: %s failed with an emulator error", stack.name, action, exc_info=error)


def _backend_of(stack: Any) -> Any:
    return cfn_models.cloudformation_backends[stack.account_id][stack.region_name]


# --- template location --------------------------------------------------------------------------


def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
    """Read a template from moto's S3 for any URL form the CDK CLI and SDKs produce.

    moto only understands ``localhost`` path-style URLs and AWS hostnames; a loopback endpoint such
    as ``http://127.0.0.1:PORT/bucket/key`` was read as bucket ``127``.
    """
    from moto.s3.models import s3_backends

    parts = urlparse(template_url)
    host = (parts.hostname or "").lower()
    path = parts.path.lstrip("/")
    if parts.scheme == "s3":
        bucket, key = host, path
    elif re.fullmatch(r"[\d.]+|localhost|\[?[0-9a-f:]+\]?", host) or re.match(r"s3[.-]", host):
        bucket, _, key = path.partition("/")
    elif ".s3" in host:
        bucket, key = host.split(".s3", 1)[0], path
    else:
        bucket, key = host.split(".", 1)[0], path
    try:
        obj = s3_backends[account_id][partition].get_object(bucket, key)
    except Exception as error:
        raise ValidationError(
            message=f"Template URL {template_url} cannot be read: {_reason(error)}"
        ) from error
    if obj is None:
        raise ValidationError(message=f"Template URL {template_url} does not point at an object")
    return bytes(obj.value).decode("utf-8")


# --- resource types -----------------------------------------------------------------------------


def _custom_model(resource_type: str) -> type[CloudFormationModel]:
    from emulator.cfn.cloudformation import custom_resource_model

    return custom_resource_model(resource_type)


def resource_class_from_type(resource_type: str) -> type[CloudFormationModel]:
    """Route every custom resource to our models.

    moto hands ``Custom::*`` to a Lambda it runs in Docker; without Docker the resource never
    completes and the stack hangs. No Lambda runtime runs here: the CDK-provided custom resources
    whose effect is well defined are emulated natively (``cfn/cdk.py``), the platform's
    ``Custom::AuroraBootstrap`` runs its own handler in process (``cfn/rds.py``), and every other one
    is recorded as complete and every attribute it exposes reads as an empty string.
    """
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return _custom_model(resource_type)
    return _original_resource_class_from_type(resource_type)


def unknown_resource_types(template: dict[str, Any]) -> list[str]:
    resources = template.get("Resources") or {}
    known = parsing.get_model_map()
    unknown = {
        str(res.get("Type"))
        for res in resources.values()
        if isinstance(res, dict)
        and not str(res.get("Type", "")).startswith("Custom::")
        and res.get("Type") not in known
        and res.get("Type") not in parsing.NULL_MODELS
    }
    return sorted(unknown)


def validate_template(template_body: str | dict[str, Any]) -> dict[str, Any]:
    """Refuse templates with resource types the emulator does not model, as AWS refuses unknown ones.

    moto skips such resources with a log line and reports the stack complete, which would make a
    template that cannot work look deployable.
    """
    template = Stack.parse_template(template_body) if isinstance(template_body, str) else template_body
    if not isinstance(template, dict):
        raise ValidationError(message="Template format error: the template is not a JSON or YAML object")
    unknown = unknown_resource_types(template)
    if unknown:
        raise ValidationError(
            message=f"Template format error: Unrecognized resource types: [{', '.join(unknown)}] "
            "(not modelled by the local emulator)"
        )
    return template


# --- template evaluation ------------------------------------------------------------------------


def clean_json(resource_json: Any, resources_map: Any) -> Any:
    """moto's template evaluation, plus ``{{resolve:...}}`` dynamic references, which moto leaves as text."""
    result = _original_clean_json(resource_json, resources_map)
    if isinstance(result, str) and "{{resolve:" in result and isinstance(resources_map, ResourceMap):
        return resolve_dynamic_references(result, resources_map._account_id, resources_map._region_name)
    return result


def parse_resource(
    resource_json: dict[str, Any], resources_map: Any
) -> tuple[type[CloudFormationModel], Any, str] | None:
    """moto's parse_resource without writing ``Properties: {}`` into the stored template.

    That write made every resource without Properties differ from the next template, so each
    update treated it as modified, and "no changes" redeploys were not detected.
    """
    resource_type = resource_json["Type"]
    resource_class = parsing.resource_class_from_type(resource_type)
    if not resource_class:
        return None
    resource_json = dict(resource_json)
    resource_json.setdefault("Properties", {})
    cleaned = parsing.clean_json(resource_json, resources_map)
    return resource_class, cleaned, resource_type


def _stack_of(resources_map: Any) -> Any:
    with contextlib.suppress(Exception):
        backend = cfn_models.cloudformation_backends[resources_map._account_id][resources_map._region_name]
        return backend.stacks.get(resources_map.stack_id)
    return None


def _resource_event(
    resources_map: Any, logical_id: str, resource_type: str, physical_id: str, status: str, reason: str = ""
) -> None:
    stack = _stack_of(resources_map)
    if stack is None:
        return
    stack.events.append(
        cfn_models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason or None,
            resource_properties=None,
        )
    )


def parse_and_create_resource(
    logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
) -> Any:
    """moto's resource creation, with stack events and failures that name the resource."""
    resource_type = str(resource_json.get("Type"))
    try:
        resource = _original_parse_and_create_resource(
            logical_id, resource_json, resources_map, account_id, region_name
        )
    except ResourceFailure:
        raise
    except Exception as error:
        _resource_event(resources_map, logical_id, resource_type, "", "CREATE_FAILED", _cause(error))
        raise ResourceFailure(logical_id, resource_type, error) from error
    if resource is not None:
        physical_id = str(getattr(resource, "physical_resource_id", "") or "")
        _resource_event(resources_map, logical_id, resource_type, physical_id, "CREATE_COMPLETE")
    return resource


def _depends_on(resource_json: Any) -> list[str]:
    deps = resource_json.get("DependsOn", []) if isinstance(resource_json, dict) else []
    return [deps] if isinstance(deps, str) else list(deps)


def _dependency_order(resources: dict[str, Any], names: Iterable[str]) -> list[str]:
    wanted = set(names)
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in resources:
            return
        seen.add(name)
        for dep in _depends_on(resources[name]):
            visit(dep)
        for ref in _references(resources[name]):
            visit(ref)
        if name in wanted:
            order.append(name)

    for name in sorted(wanted):
        visit(name)
    return order


def _references(node: Any) -> set[str]:
    refs: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                refs.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                refs.add(str(target))
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    refs.update(m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text))
                refs.update(_references(value))
            else:
                refs.update(_references(value))
    elif isinstance(node, list):
        for item in node:
            refs.update(_references(item))
    return refs


def _normalized(resource_json: Any) -> Any:
    if isinstance(resource_json, dict):
        normalized = dict(resource_json)
        normalized["Properties"] = normalized.get("Properties") or {}
        return normalized
    return resource_json


def build_resource_diff(
    self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """moto's add/modify/remove diff, comparing resources with and without empty Properties alike."""
    old = self._resource_json_map
    new = other_template.get("Resources") or {}
    actions: dict[str, list[str]] = {
        "Add": [name for name in new if name not in old],
        "Modify": [name for name in new if name in old and _normalized(new[name]) != _normalized(old[name])],
        "Remove": [name for name in old if name not in new],
    }
    if parameters:
        changed = [p for p in parameters if self.input_parameters.get(p) != parameters[p]]
        for name in new:
            if name in old and name not in actions["Modify"]:
                refs = parsing.get_references_from_template(new[name])
                if any(p in refs for p in changed):
                    actions["Modify"].append(name)
    return actions


def _tag_ec2(self: Any, logical_id: str, instance: Any) -> None:
    if isinstance(instance, TaggedEC2Resource):
        from moto.ec2 import models as ec2_models

        tags = dict(self.tags)
        tags.update(
            {
                "aws:cloudformation:stack-name": self["AWS::StackName"],
                "aws:cloudformation:stack-id": self["AWS::StackId"],
                "aws:cloudformation:logical-id": logical_id,
            }
        )
        backend = ec2_models.ec2_backends[self._account_id][self._region_name]
        backend.create_tags([getattr(instance, "physical_resource_id", "")], tags)


def resource_map_create(self: Any, template: dict[str, Any]) -> bool:
    """moto's create, ordering by references as well as DependsOn (moto used DependsOn only), so
    that e.g. a route waits for its gateway."""
    self._template = template
    self._resource_json_map = template["Resources"]
    ready = True
    for logical_id in _dependency_order(self._resource_json_map, self._resource_json_map):
        instance = self[logical_id]
        _tag_ec2(self, logical_id, instance)
        if instance is not None and not instance.is_created():
            ready = False
    return ready


def resource_map_update(
    self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> None:
    """Apply a new template to a stack's resources.

    Replaces moto's update, which lost every modified resource whose type has no update method
    (the stack then forgot it and could not delete it), created added resources without regard to
    DependsOn, deleted removed resources before anything else, did not update the dependents of a
    replaced resource and retried failures silently. As on CloudFormation, resources are added and
    updated first (a resource that refers to a replaced one is updated too) and removed ones are
    deleted last. Types without an in-place update keep their previous properties, with a warning.
    """
    actions = self.build_resource_diff(template, parameters)
    old_resources = self._resource_json_map
    new_resources = template.get("Resources") or {}

    self._template = template
    if parameters is not None:
        self.input_parameters = parameters
    self.resolved_parameters = {}
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = new_resources

    for logical_id in _dependency_order(new_resources, actions["Add"]):
        instance = self[logical_id]
        _tag_ec2(self, logical_id, instance)

    modified = set(actions["Modify"])
    replaced: set[str] = set()
    for logical_id in _dependency_order(new_resources, new_resources):
        if logical_id in actions["Add"]:
            continue
        if logical_id not in modified and not _references(new_resources[logical_id]) & replaced:
            continue
        resource_json = new_resources[logical_id]
        resource_type = str(resource_json.get("Type"))
        original = self._parsed_resources.get(logical_id)
        if original is None:
            self[logical_id]
            continue
        model = parsing.resource_class_from_type(resource_type)
        if model is None:
            continue
        if hasattr(model.update_from_cloudformation_json, "__isabstractmethod__"):
            log.warning(
                "stack %s: %s (%s) changed; the emulator cannot update this type in place, it keeps "
                "its previous properties",
                self["AWS::StackName"],
                logical_id,
                resource_type,
            )
            continue
        if hasattr(original, "retire"):
            original.update_replace_policy = str(resource_json.get("UpdateReplacePolicy", "Delete"))
        try:
            parsed = parse_resource(resource_json, self)
            if parsed is None:
                continue
            _, cleaned, _ = parsed
            name_property = parsing.resource_name_property_from_type(resource_type)
            props = cleaned.get("Properties", {})
            new_name = props.get(name_property) if name_property and name_property in props else None
            if new_name is None:
                new_name = parsing.generate_resource_name(resource_type, self["AWS::StackName"], logical_id)
            updated = model.update_from_cloudformation_json(
                original_resource=original,
                new_resource_name=new_name,
                cloudformation_json=cleaned,
                account_id=self._account_id,
                region_name=self._region_name,
            )
        except ResourceFailure:
            raise
        except Exception as error:
            _resource_event(self, logical_id, resource_type, "", "UPDATE_FAILED", _cause(error))
            raise ResourceFailure(logical_id, resource_type, error) from error
        if updated is not None:
            updated.cf_resource_type = resource_type
            updated.logical_resource_id = logical_id
            self._parsed_resources[logical_id] = updated
            if getattr(updated, "physical_resource_id", None) != getattr(
                original, "physical_resource_id", None
            ):
                replaced.add(logical_id)
        physical_id = str(getattr(self._parsed_resources[logical_id], "physical_resource_id", "") or "")
        _resource_event(self, logical_id, resource_type, physical_id, "UPDATE_COMPLETE")

    for logical_id in reversed(_dependency_order(old_resources, actions["Remove"])):
        resource = self._parsed_resources.get(logical_id)
        resource_json = old_resources[logical_id]
        if resource is not None and not isinstance(resource, str):
            if resource_json.get("DeletionPolicy") not in RETAINED:
                try:
                    self._delete_resource(resource, resource_json)
                except Exception as error:
                    raise ResourceFailure(logical_id, str(resource_json.get("Type")), error) from error
            _resource_event(self, logical_id, str(resource_json.get("Type")), "", "DELETE_COMPLETE")
        self._parsed_resources.pop(logical_id, None)


def kept_on_delete(resource_json: Any, *, rollback: bool) -> bool:
    """Whether CloudFormation keeps a resource it would delete, by its DeletionPolicy: Retain always;
    RetainExceptOnCreate except when the operation that created it is rolled back (the DeletionPolicy
    attribute's reference: "If the stack operation that created the resource is rolled back,
    CloudFormation deletes the resource")."""
    policy = resource_json.get("DeletionPolicy") if isinstance(resource_json, dict) else None
    if policy == "Retain":
        return True
    return policy == "RetainExceptOnCreate" and not rollback


def resource_map_delete(self: Any) -> None:
    """Delete a stack's resources (a DeleteStack), dependents first; see `delete_resources`."""
    delete_resources(self, rollback=False)


def delete_resources(self: Any, *, rollback: bool) -> None:
    """Delete a stack's resources dependents first, as CloudFormation does, honouring DeletionPolicy.

    moto deleted in arbitrary order and retried failures, so e.g. a route table went before the
    VPC endpoint that still used it and the endpoint could then not be deleted. Retries remain for
    dependencies the template does not express. Retain keeps a resource; RetainExceptOnCreate keeps
    it too, except in the `rollback` of the create that made it; Snapshot deletes after a final
    snapshot (the model does it). A kept resource leaves the stack with a DELETE_SKIPPED event. A
    resource that cannot be deleted (e.g. deletion protection) stays in the stack, with a
    DELETE_FAILED event, and so does everything it depends on (its subnets stay under a load
    balancer); the first such failure is raised once everything else is gone.
    """
    created = [name for name in self._resource_json_map if name in self._parsed_resources]
    for logical_id in created:
        resource_json = self._resource_json_map[logical_id]
        if kept_on_delete(resource_json, rollback=rollback):
            resource = self._parsed_resources.pop(logical_id, None)
            physical_id = str(getattr(resource, "physical_resource_id", "") or "")
            _resource_event(self, logical_id, str(resource_json.get("Type")), physical_id, "DELETE_SKIPPED")
    remaining = {name for name in created if name in self._parsed_resources}
    order = list(reversed(_dependency_order(self._resource_json_map, remaining)))
    failures: dict[str, BaseException] = {}
    progress = True
    while remaining and progress:
        progress = False
        failures = {}
        held: set[str] = set()
        for logical_id in [name for name in order if name in remaining]:
            if logical_id in held:
                continue
            resource = self._parsed_resources.get(logical_id)
            resource_json = self._resource_json_map[logical_id]
            if resource is not None and not isinstance(resource, str):
                try:
                    self._delete_resource(resource, resource_json)
                except Exception as error:
                    failures[logical_id] = error
                    held |= _dependencies(self._resource_json_map, logical_id)
                    continue
                self._parsed_resources.pop(logical_id, None)
                _resource_event(self, logical_id, str(resource_json.get("Type")), "", "DELETE_COMPLETE")
            else:
                self._parsed_resources.pop(logical_id, None)
            remaining.discard(logical_id)
            progress = True
    if remaining and failures:
        for logical_id, failure in failures.items():
            resource_type = str(self._resource_json_map[logical_id].get("Type"))
            _resource_event(self, logical_id, resource_type, "", "DELETE_FAILED", _cause(failure))
        blocked = next(name for name in order if name in failures)
        first = failures[blocked]
        raise ResourceFailure(blocked, str(self._resource_json_map[blocked].get("Type")), first) from first


def _dependencies(resources: dict[str, Any], name: str) -> set[str]:
    """Every resource `name` depends on, directly or not: what stays while `name` cannot be deleted."""
    found: set[str] = set()
    pending = [name]
    while pending:
        current = resources.get(pending.pop())
        if current is None:
            continue
        for dep in set(_depends_on(current)) | _references(current):
            if dep in resources and dep not in found:
                found.add(dep)
                pending.append(dep)
    return found


def delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
    """Let our models delete what they created, given the live object.

    moto deletes through ``delete_from_cloudformation_json``, which only gets the physical id and
    the unresolved template, and is missing for a dozen types (NAT gateway, EIP, routes, route
    tables, IGW, ECS, target groups, ...). Our models implement ``delete_stack_resource`` instead.
    """
    model = parsing.resource_class_from_type(str(resource_json.get("Type")))
    deleter = getattr(model, "delete_stack_resource", None) if model is not None else None
    if deleter is not None:
        if hasattr(parsed_resource, "deletion_policy"):
            parsed_resource.deletion_policy = resource_json.get("DeletionPolicy", "Delete")
        deleter(parsed_resource, self._account_id, self._region_name)
        return
    _original_delete_resource(self, parsed_resource, resource_json)


# --- stacks -------------------------------------------------------------------------------------


def _set_status(stack: Any, status: str, reason: str | None = None) -> None:
    stack.status = status
    stack.status_reason = reason
    stack._add_stack_event(status, resource_status_reason=reason)


def _refresh_outputs(stack: Any) -> None:
    backend = _backend_of(stack)
    stack.output_map = stack._create_output_map()
    stack.description = stack.template_dict.get("Description")
    for name in [
        name for name, export in backend.exports.items() if export.exporting_stack_id == stack.stack_id
    ]:
        backend.exports.pop(name)
    for export in stack.exports:
        if export.name in backend.exports:
            raise ValidationError(
                stack.stack_id, message=f"Export with name {export.name} is already exported"
            )
        backend.exports[export.name] = export


def _rollback_create(stack: Any, error: BaseException) -> None:
    """Undo a failed create as CloudFormation does: what was created is deleted in reverse order,
    by its DeletionPolicy as a rollback applies it (`delete_resources`). A resource that cannot be
    deleted (deletion protection) ends the stack in ROLLBACK_FAILED, naming it; it stays in the
    stack, and a DeleteStack tries it again."""
    reason = _reason(error)
    _report(stack, "create", error)
    _set_status(stack, "ROLLBACK_IN_PROGRESS", f"The following resource(s) failed to create: {reason}")
    try:
        delete_resources(stack.resource_map, rollback=True)
    except Exception as rollback_error:
        _report(stack, "rollback", rollback_error)
        _set_status(
            stack,
            "ROLLBACK_FAILED",
            f"The following resource(s) failed to delete: {_reason(rollback_error)}; "
            f"the create had failed: {reason}",
        )
        return
    _set_status(stack, "ROLLBACK_COMPLETE", f"The following resource(s) failed to create: {reason}")


def run_create(stack: Any) -> None:
    """Create a stack's resources; a failure ends in ROLLBACK_COMPLETE with its reason, as on AWS."""
    stack.status = "CREATE_IN_PROGRESS"
    try:
        stack.resource_map.create(stack.template_dict)
        _refresh_outputs(stack)
        [output.value for output in stack.output_map.values() if output]
    except Exception as error:
        _rollback_create(stack, error)
        return
    stack.description = stack.template_dict.get("Description")
    _set_status(stack, "CREATE_COMPLETE")


def run_update(
    stack: Any, template: str, parameters: dict[str, Any] | None, tags: dict[str, str] | None
) -> None:
    """Apply an update; a failure ends in UPDATE_ROLLBACK_COMPLETE with its reason.

    The emulator does not undo the part of an update that succeeded before the failure; the
    reason says so, and the next deploy applies the template again.
    """
    _set_status(stack, "UPDATE_IN_PROGRESS", "User Initiated")
    previous = (stack.template, stack.template_dict, stack.parameters)
    try:
        template_dict = Stack.parse_template(template)
        stack.resource_map.update(copy.deepcopy(template_dict), parameters)
        stack.template = template
        stack.template_dict = template_dict
        if parameters is not None:
            stack.parameters = parameters
        if tags is not None:
            stack.tags = tags
        _refresh_outputs(stack)
        [output.value for output in stack.output_map.values() if output]
    except Exception as error:
        _report(stack, "update", error)
        stack.template, stack.template_dict, stack.parameters = previous
        _set_status(
            stack,
            "UPDATE_ROLLBACK_COMPLETE",
            f"Update failed: {_reason(error)} "
            "(the emulator does not roll back changes made before the failure)",
        )
        return
    _set_status(stack, "UPDATE_COMPLETE")


def _find_stack(backend: Any, name_or_id: str) -> Any:
    for stack in backend.stacks.values():
        if name_or_id in (stack.name, stack.stack_id):
            return stack
    return None


def backend_create_stack(
    self: Any,
    name: str,
    template: str,
    parameters: dict[str, Any],
    notification_arns: list[str] | None = None,
    tags: dict[str, str] | None = None,
    role_arn: str | None = None,
    enable_termination_protection: bool | None = False,
    timeout_in_mins: int | None = None,
    stack_policy_body: str | None = None,
) -> Any:
    """moto's create_stack with template validation and resource failures reported as stack states.

    moto let a failing resource raise out of the request (HTTP 500, which SDKs retry) and left a
    half-built stack behind; AWS accepts the request and reports ROLLBACK_COMPLETE.
    """
    validate_template(template)
    existing = _find_stack(self, name)
    if existing is not None:
        if existing.status != "REVIEW_IN_PROGRESS":
            raise AlreadyExistsException(f"Stack [{name}] already exists")
        self.stacks.pop(existing.stack_id)
    stack_id = cfn_utils.generate_stack_id(name, self.region_name, self.account_id)
    stack = Stack(  # type: ignore[abstract]
        stack_id=stack_id,
        name=name,
        template=template,
        parameters=parameters,
        account_id=self.account_id,
        region_name=self.region_name,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
        cross_stack_resources=self.exports,
        enable_termination_protection=enable_termination_protection,
        timeout_in_mins=timeout_in_mins,
        stack_policy_body=stack_policy_body,
    )
    self.stacks[stack_id] = stack
    _set_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
    run_create(stack)
    return stack


def backend_update_stack(
    self: Any,
    name: str,
    template: str,
    role_arn: str | None,
    parameters: list[dict[str, Any]],
    tags: dict[str, str] | None,
) -> Any:
    """moto's update_stack with validation, previous-value parameters and failures as stack states."""
    validate_template(template)
    stack = self.get_stack(name)
    resolved = _resolve_parameters(stack, parameters)
    run_update(stack, template, resolved, tags)
    if role_arn:
        stack.role_arn = role_arn
    return stack


def backend_delete_stack(self: Any, name_or_stack_id: str) -> None:
    """Delete a stack; a resource that cannot be deleted leaves it in DELETE_FAILED, as on AWS.

    moto removed the stack from its list before deleting its resources, so a failure answered
    500 and lost track of everything that was left behind.
    """
    stack = _find_stack(self, name_or_stack_id)
    if stack is None:
        return
    _set_status(stack, "DELETE_IN_PROGRESS", "User Initiated")
    try:
        stack.resource_map.delete()
    except Exception as error:
        _report(stack, "delete", error)
        _set_status(stack, "DELETE_FAILED", f"The following resource(s) failed to delete: {_reason(error)}")
        return
    for export_name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
        self.exports.pop(export_name)
    for change_set_id in [cid for cid, cs in self.change_sets.items() if cs.stack_id == stack.stack_id]:
        self.change_sets.pop(change_set_id)
    self.stacks.pop(stack.stack_id, None)
    self.deleted_stacks[stack.stack_id] = stack
    _set_status(stack, "DELETE_COMPLETE")


def _resolve_parameters(stack: Any, incoming: list[dict[str, Any]]) -> dict[str, Any]:
    """Turn request parameters into raw input values, resolving UsePreviousValue from the raw input.

    moto took the previous value from the *resolved* parameters, so an SSM-typed parameter (the
    CDK's BootstrapVersion) was looked up a second time with its value as the path. A parameter
    that was left at its default keeps its default.
    """
    previous = dict(stack.parameters or {})
    resolved: dict[str, Any] = {}
    for parameter in incoming:
        key = parameter["ParameterKey"]
        if parameter.get("UsePreviousValue") in (True, "true", "True"):
            if key in previous:
                resolved[key] = previous[key]
        elif "ParameterValue" in parameter:
            resolved[key] = parameter["ParameterValue"]
    return resolved


# --- change sets --------------------------------------------------------------------------------

# DescribeChangeSet answers in pages; on AWS a change set of more than 100 resources comes with a
# NextToken (observed: mapbox/cfn-config pull request 156), and clients loop on it.
CHANGE_SET_PAGE = 100
_NON_PROPERTY_ATTRIBUTES = (
    "Metadata",
    "CreationPolicy",
    "UpdatePolicy",
    "DeletionPolicy",
    "UpdateReplacePolicy",
)


def _causes(node: Any, parameters: Iterable[str]) -> set[tuple[str, str]]:
    """What a template value depends on, as DescribeChangeSet names it: (ChangeSource, CausingEntity),
    e.g. ("ResourceReference", "Queue") for a Ref, ("ResourceAttribute", "Queue.Arn") for a GetAtt,
    ("ParameterReference", "Name") for a Ref to a parameter; Fn::Sub placeholders count alike."""
    names = set(parameters)
    found: set[tuple[str, str]] = set()

    def named(entity: str) -> None:
        if entity.startswith("AWS::"):
            return
        if "." in entity:
            found.add(("ResourceAttribute", entity))
        else:
            found.add(("ParameterReference" if entity in names else "ResourceReference", entity))

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "Ref" and isinstance(inner, str):
                    named(inner)
                elif key == "Fn::GetAtt":
                    parts = inner if isinstance(inner, list) else str(inner).split(".", 1)
                    named(".".join(str(part) for part in parts))
                elif key == "Fn::Sub":
                    text = inner[0] if isinstance(inner, list) else inner
                    local = set(inner[1]) if isinstance(inner, list) and len(inner) > 1 else set()
                    if isinstance(text, str):
                        for entity in re.findall(r"\$\{([^!}][^}]*)\}", text):
                            if entity not in local:
                                named(entity)
                    visit(inner)
                else:
                    visit(inner)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(node)
    return found


def _detail(
    attribute: str,
    name: str | None,
    recreation: str,
    evaluation: str,
    source: str,
    entity: str | None = None,
) -> dict[str, Any]:
    target: dict[str, Any] = {"Attribute": attribute, "RequiresRecreation": recreation}
    if name is not None:
        target["Name"] = name
    detail: dict[str, Any] = {"Target": target, "Evaluation": evaluation, "ChangeSource": source}
    if entity is not None:
        detail["CausingEntity"] = entity
    return detail


def _replacement(details: list[dict[str, Any]], retyped: bool) -> str:
    """ResourceChange.Replacement from its details, as the API reference defines it: a recreation
    that is certain (RequiresRecreation Always, Evaluation Static) gives True; one that depends on a
    value known only during the update (Always with Dynamic, or Conditionally) gives Conditional;
    the change with the most impact decides."""
    recreations = [(d["Target"]["RequiresRecreation"], d["Evaluation"]) for d in details]
    if retyped or ("Always", "Static") in recreations:
        return "True"
    if any(r == "Conditionally" or (r == "Always" and e == "Dynamic") for r, e in recreations):
        return "Conditional"
    return "False"


class ResourceChange(cfn_models.Change):
    """moto's Change (action, logical id, type) with the rest of DescribeChangeSet's ResourceChange."""

    def __init__(
        self,
        action: str,
        logical_resource_id: str,
        resource_type: str,
        *,
        physical_resource_id: str | None = None,
        replacement: str | None = None,
        details: list[dict[str, Any]] | None = None,
        policy_action: str | None = None,
    ) -> None:
        super().__init__(action=action, logical_resource_id=logical_resource_id, resource_type=resource_type)
        self.physical_resource_id = physical_resource_id
        self.replacement = replacement
        self.details = details
        self.scope = (
            sorted({d["Target"]["Attribute"] for d in details}, key=_scope_order)
            if details is not None
            else None
        )
        self.policy_action = policy_action


def _scope_order(attribute: str) -> int:
    order = ("Properties", *_NON_PROPERTY_ATTRIBUTES, "Tags")
    return order.index(attribute) if attribute in order else len(order)


def _policy(resource_json: dict[str, Any], key: str) -> str:
    value = str(resource_json.get(key) or "Delete")
    return {"RetainExceptOnCreate": "Retain"}.get(value, value)


def change_set_diff(change_set: Any) -> list[ResourceChange]:
    """The resource changes of a change set, as CloudFormation's DescribeChangeSet reports them.

    moto listed each added, modified or removed resource with its action only. Here a Modify also
    carries `Replacement` (True / Conditional / False), `Scope` and `Details`: one Static
    DirectModification detail per changed property (RequiresRecreation Always when the schema lists
    it as create-only, else Never) or per changed resource attribute (Metadata, DeletionPolicy, ...),
    a Static ParameterReference detail per property that takes a parameter whose value changes, and a
    Dynamic ResourceReference / ResourceAttribute detail per property that refers to a resource that
    is or may be replaced (its physical id, hence the value, changes): Always when that property is
    create-only, so that the referring resource is replaced Conditionally and its own referrers follow
    it, Never otherwise (an update in place, Replacement False). A Remove and a certain replacement
    carry the `PolicyAction` that the resource's DeletionPolicy or UpdateReplacePolicy gives.
    """
    stack = change_set.stack
    new_template = change_set.template_dict if isinstance(change_set.template_dict, dict) else {}
    new = {k: _normalized(v) for k, v in (new_template.get("Resources") or {}).items()}
    if change_set.change_set_type == "CREATE":
        return [ResourceChange("Add", name, str(res.get("Type"))) for name, res in new.items()]
    old_template = stack.template_dict if isinstance(stack.template_dict, dict) else {}
    old = {k: _normalized(v) for k, v in (old_template.get("Resources") or {}).items()}
    region = stack.region_name
    declared = new_template.get("Parameters") or {}
    changed_parameters = {
        name
        for name, spec in declared.items()
        if (stack.parameters or {}).get(name, (spec or {}).get("Default"))
        != (change_set.parameters or {}).get(name, (spec or {}).get("Default"))
    }
    parsed = getattr(getattr(stack, "resource_map", None), "_parsed_resources", {}) or {}

    def physical_id(name: str) -> str | None:
        value = getattr(parsed.get(name), "physical_resource_id", None)
        return str(value) if value else None

    kept = [name for name in new if name in old]
    details: dict[str, list[dict[str, Any]]] = {}
    retyped: set[str] = set()
    for name in kept:
        before, after = old[name], new[name]
        immutable = create_only_properties(str(after.get("Type")), region)
        found: list[dict[str, Any]] = []
        if before.get("Type") != after.get("Type"):
            retyped.add(name)
        props_before, props_after = before["Properties"], after["Properties"]
        for prop in sorted(set(props_before) | set(props_after)):
            recreation = "Always" if prop in immutable else "Never"
            if props_before.get(prop) != props_after.get(prop):
                found.append(_detail("Properties", prop, recreation, "Static", "DirectModification"))
            elif prop in props_after:
                for source, entity in sorted(_causes(props_after[prop], declared)):
                    if source == "ParameterReference" and entity in changed_parameters:
                        found.append(_detail("Properties", prop, recreation, "Static", source, entity))
        for attribute in _NON_PROPERTY_ATTRIBUTES:
            if before.get(attribute) != after.get(attribute):
                found.append(_detail(attribute, None, "Never", "Static", "DirectModification"))
        if found or name in retyped:
            details[name] = found

    moving = {name for name in details if _replacement(details[name], name in retyped) == "True"}
    frontier = set(moving)
    while frontier:
        following: set[str] = set()
        for name in kept:
            if name in moving:
                continue
            immutable = create_only_properties(str(new[name].get("Type")), region)
            for prop, value in sorted(new[name]["Properties"].items()):
                for source, entity in sorted(_causes(value, declared)):
                    if source == "ParameterReference" or entity.split(".", 1)[0] not in frontier:
                        continue
                    recreation = "Always" if prop in immutable else "Never"
                    details.setdefault(name, []).append(
                        _detail("Properties", prop, recreation, "Dynamic", source, entity)
                    )
                    if recreation == "Always":
                        following.add(name)
        moving |= following
        frontier = following

    changes = [ResourceChange("Add", name, str(new[name].get("Type"))) for name in new if name not in old]
    for name in kept:
        if name not in details:
            continue
        replacement = _replacement(details[name], name in retyped)
        policy = None
        if replacement == "True":
            policy = "ReplaceAnd" + _policy(new[name], "UpdateReplacePolicy")
        changes.append(
            ResourceChange(
                "Modify",
                name,
                str(old[name].get("Type")),
                physical_resource_id=physical_id(name),
                replacement=replacement,
                details=details[name],
                policy_action=policy,
            )
        )
    for name in old:
        if name not in new:
            changes.append(
                ResourceChange(
                    "Remove",
                    name,
                    str(old[name].get("Type")),
                    physical_resource_id=physical_id(name),
                    policy_action=_policy(old[name], "DeletionPolicy"),
                )
            )
    return changes


class _ChangeSetPage:
    """One page of a change set's description: its changes from `start`, and the next page's token."""

    def __init__(self, change_set: Any, start: int) -> None:
        self._change_set = change_set
        self.changes = change_set.changes[start : start + CHANGE_SET_PAGE]
        following = start + CHANGE_SET_PAGE
        self.next_token = str(following) if following < len(change_set.changes) else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._change_set, name)


def _change_sets_of(backend: Any, stack_name_or_id: str | None) -> list[Any]:
    change_sets = list(backend.change_sets.values())
    if stack_name_or_id:
        change_sets = [cs for cs in change_sets if stack_name_or_id in (cs.stack_name, cs.stack_id)]
    return change_sets


def find_change_set(backend: Any, name: str, stack_name_or_id: str | None) -> Any:
    """Look a change set up by ARN, or by name within its stack.

    moto ignored the stack, so two stacks' ``cdk-deploy-change-set`` were confused, and a missing
    name raised UnboundLocalError (the DeleteChangeSet 500).
    """
    if name in backend.change_sets:
        return backend.change_sets[name]
    matches = [cs for cs in _change_sets_of(backend, stack_name_or_id) if cs.change_set_name == name]
    if not matches:
        raise ChangeSetNotFound(name)
    return matches[-1]


def backend_create_change_set(
    self: Any,
    stack_name: str,
    change_set_name: str,
    template: str,
    parameters: dict[str, str],
    description: str,
    change_set_type: str,
    notification_arns: list[str] | None = None,
    tags: dict[str, str] | None = None,
    role_arn: str | None = None,
) -> tuple[str, str]:
    """moto's create_change_set, validating the template and reusing a stack still under review."""
    cfn_utils.validate_create_change_set(change_set_name)
    validate_template(template)
    stack = _find_stack(self, stack_name)
    if change_set_type == "UPDATE":
        if stack is None:
            raise ValidationError(stack_name)
        if stack.status == "REVIEW_IN_PROGRESS":
            raise ValidationError(
                stack_name,
                message=f"Stack [{stack_name}] is in REVIEW_IN_PROGRESS state; use ChangeSetType CREATE",
            )
    elif stack is not None and stack.status != "REVIEW_IN_PROGRESS":
        raise AlreadyExistsException(f"Stack [{stack_name}] already exists")
    elif stack is None:
        stack = Stack(  # type: ignore[abstract]
            stack_id=cfn_utils.generate_stack_id(stack_name, self.region_name, self.account_id),
            name=stack_name,
            template={},
            parameters=parameters,
            account_id=self.account_id,
            region_name=self.region_name,
            notification_arns=notification_arns,
            tags=tags,
            role_arn=role_arn,
        )
        self.stacks[stack.stack_id] = stack
        _set_status(stack, "REVIEW_IN_PROGRESS", "User Initiated")
    for existing in _change_sets_of(self, stack.stack_id):
        if existing.change_set_name == change_set_name:
            raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists")

    change_set_id = cfn_utils.generate_changeset_id(change_set_name, self.region_name, self.account_id)
    change_set = ChangeSet(
        change_set_type=change_set_type,
        change_set_id=change_set_id,
        change_set_name=change_set_name,
        stack=stack,
        template=template,
        parameters=parameters,
        description=description,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
    )
    if change_set_type == "UPDATE" and stack.has_template(template) and stack.has_parameters(parameters):
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = (
            "The submitted information didn't contain changes. "
            "Submit different information to create a change set."
        )
    else:
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
    self.change_sets[change_set_id] = change_set
    return change_set_id, stack.stack_id


def backend_execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """Execute a change set like a stack create or update.

    moto applied it to the resources only: a stack created from a change set had no Outputs,
    no exports and no description, failures answered 500, and executed change sets stayed around.
    """
    change_set = find_change_set(self, change_set_name, stack_name)
    if change_set.execution_status != "AVAILABLE":
        raise ValidationError(
            stack_name,
            message=f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status",
        )
    stack = self.stacks[change_set.stack_id]
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    for change_set_id in [cid for cid, cs in self.change_sets.items() if cs.stack_id == stack.stack_id]:
        if change_set_id != change_set.change_set_id:
            self.change_sets.pop(change_set_id)
    if change_set.change_set_type == "CREATE":
        stack.template = change_set.template
        stack._parse_template()
        stack.parameters = change_set.parameters
        if change_set.tags:
            stack.tags = change_set.tags
        stack.cross_stack_resources = self.exports
        try:
            stack.resource_map = stack._create_resource_map()
        except Exception as error:
            _rollback_create(stack, error)
            change_set.execution_status = "EXECUTE_FAILED"
            return
        stack.output_map = stack._create_output_map()
        _set_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
        run_create(stack)
    else:
        run_update(stack, change_set.template, change_set.parameters, change_set.tags)
    change_set.execution_status = (
        "EXECUTE_COMPLETE" if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE") else "EXECUTE_FAILED"
    )
    self.change_sets.pop(change_set.change_set_id, None)


def backend_delete_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """Delete a change set; deleting one that does not exist succeeds, as on AWS (the CDK CLI relies
    on it after every skipped deploy)."""
    try:
        change_set = find_change_set(self, change_set_name, stack_name)
    except ChangeSetNotFound:
        return
    self.change_sets.pop(change_set.change_set_id, None)


def backend_describe_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> Any:
    return find_change_set(self, change_set_name, stack_name)


def response_create_change_set(self: Any) -> ActionResult:
    """moto's CreateChangeSet handler with UsePreviousValue resolved from the raw previous input."""
    stack_name = self._get_param("StackName")
    change_set_name = self._get_param("ChangeSetName")
    stack_body = self._get_param("TemplateBody")
    template_url = self._get_param("TemplateURL")
    change_set_type = self._get_param("ChangeSetType", "CREATE")
    use_previous_template = self._get_bool_param("UsePreviousTemplate", False)
    stack = None
    if change_set_type == "UPDATE":
        stack = self.cloudformation_backend.get_stack(stack_name)
        self.validate_template_and_stack_body()
        if use_previous_template:
            stack_body = stack.template
    if template_url:
        stack_body = get_stack_from_s3_url(template_url, self.current_account, self.partition)
    parameters_list = self._get_param("Parameters", [])
    if stack is not None:
        parameters = _resolve_parameters(stack, parameters_list)
    else:
        parameters = {
            p["ParameterKey"]: p.get("ParameterValue") for p in parameters_list if "ParameterValue" in p
        }
    tags = {item["Key"]: item["Value"] for item in self._get_param("Tags", [])}
    change_set_id, stack_id = self.cloudformation_backend.create_change_set(
        stack_name=stack_name,
        change_set_name=change_set_name,
        template=stack_body,
        parameters=parameters,
        description=self._get_param("Description"),
        notification_arns=self._get_param("NotificationARNs", []),
        tags=tags,
        role_arn=self._get_param("RoleARN"),
        change_set_type=change_set_type,
    )
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


def response_describe_change_set(self: Any) -> ActionResult:
    """moto's DescribeChangeSet, answered in pages of CHANGE_SET_PAGE changes as AWS does."""
    change_set = self.cloudformation_backend.describe_change_set(
        change_set_name=self._get_param("ChangeSetName"), stack_name=self._get_param("StackName")
    )
    token = self._get_param("NextToken")
    if token is not None and not (str(token).isdigit() and 0 < int(token) < len(change_set.changes)):
        raise ValidationError(message=f"Invalid NextToken: {token}")
    return ActionResult(_ChangeSetPage(change_set, int(token or 0)))


def response_delete_change_set(self: Any) -> EmptyResult:
    self.cloudformation_backend.delete_change_set(
        change_set_name=self._get_param("ChangeSetName"), stack_name=self._get_param("StackName")
    )
    return EmptyResult()


def response_list_change_sets(self: Any) -> ActionResult:
    change_sets = _change_sets_of(self.cloudformation_backend, self._get_param("StackName"))
    return ActionResult({"Summaries": change_sets})


def response_update_stack(self: Any) -> ActionResult:
    """moto's UpdateStack handler with the template read by our URL reader and status checks of AWS."""
    stack_name = self._get_param("StackName")
    stack = self.cloudformation_backend.get_stack(stack_name)
    if self._get_bool_param("UsePreviousTemplate", False):
        stack_body = stack.template
    else:
        stack_body = self._get_param("TemplateBody")
        template_url = self._get_param("TemplateURL")
        if not stack_body and template_url:
            stack_body = get_stack_from_s3_url(template_url, self.current_account, self.partition)
    if stack.status.endswith("_IN_PROGRESS") or stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        raise ValidationError(
            stack.stack_id,
            message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.",
        )
    incoming = self._get_param("Parameters", [])
    tags = {item["Key"]: item["Value"] for item in self._get_param("Tags", [])} or None
    if stack.has_template(stack_body) and stack.has_parameters(_resolve_parameters(stack, incoming)):
        raise ValidationError(stack.name, message="No updates are to be performed.")
    stack = self.cloudformation_backend.update_stack(
        name=stack_name,
        template=stack_body,
        role_arn=self._get_param("RoleARN"),
        parameters=incoming,
        tags=tags,
    )
    return ActionResult({"StackId": stack.stack_id})


def stack_has_template(self: Any, other_template: str) -> bool:
    return bool(
        _normalized_template(self.template_dict) == _normalized_template(self.parse_template(other_template))
    )


def _normalized_template(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    normalized = dict(template)
    normalized["Resources"] = {k: _normalized(v) for k, v in (template.get("Resources") or {}).items()}
    return normalized


def stack_resources(self: Any) -> list[Any]:
    """The resources a stack has created. moto iterated its lazy resource map, which created every
    missing resource as a side effect, e.g. on DescribeStackResources after a failed create."""
    resource_map = self.resource_map
    return [
        resource
        for name, resource in resource_map._parsed_resources.items()
        if name in resource_map._resource_json_map and resource is not None and not isinstance(resource, str)
    ]


_OUTPUT_STATES = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")


def stack_to_json_outputs(self: Any) -> list[dict[str, Any]] | None:
    """A stack's outputs as evaluated when its create or update completed.

    moto evaluated outputs on every DescribeStacks; on a stack whose creation had failed that
    created the missing resources as a side effect of the read. Outputs whose value is a list
    (e.g. Fn::GetAZs) are returned comma-joined, as AWS does.
    """
    if self.status not in _OUTPUT_STATES:
        return None
    outputs: list[dict[str, Any]] | None = _original_outputs.fget(self)
    for output in outputs or []:
        value = output.get("OutputValue")
        if isinstance(value, list):
            output["OutputValue"] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            output["OutputValue"] = "true" if value else "false"
        elif value is not None and not isinstance(value, str):
            output["OutputValue"] = json.dumps(value) if isinstance(value, dict) else str(value)
    return outputs


_original_outputs: Any = Stack.__dict__["outputs"]


def install() -> None:
    """Install every fix into moto; idempotent."""
    if getattr(Stack, "_emulator_installed", False):
        return
    response = cfn_responses.CloudFormationResponse
    patches: list[tuple[object, str, object]] = [
        (parsing, "resource_class_from_type", resource_class_from_type),
        (parsing, "clean_json", clean_json),
        (parsing, "parse_resource", parse_resource),
        (parsing, "parse_and_create_resource", parse_and_create_resource),
        (ResourceMap, "build_resource_diff", build_resource_diff),
        (ResourceMap, "create", resource_map_create),
        (ResourceMap, "update", resource_map_update),
        (ResourceMap, "delete", resource_map_delete),
        (ResourceMap, "_delete_resource", delete_resource),
        (cfn_utils, "get_stack_from_s3_url", get_stack_from_s3_url),
        (cfn_models, "get_stack_from_s3_url", get_stack_from_s3_url),
        (cfn_responses, "get_stack_from_s3_url", get_stack_from_s3_url),
        (Stack, "has_template", stack_has_template),
        (Stack, "outputs", property(stack_to_json_outputs)),
        (Stack, "stack_resources", property(stack_resources)),
        (Stack, "status_reason", None),
        (Backend, "create_stack", backend_create_stack),
        (Backend, "update_stack", backend_update_stack),
        (Backend, "delete_stack", backend_delete_stack),
        (Backend, "create_change_set", backend_create_change_set),
        (Backend, "execute_change_set", backend_execute_change_set),
        (Backend, "delete_change_set", backend_delete_change_set),
        (Backend, "describe_change_set", backend_describe_change_set),
        (ChangeSet, "diff", change_set_diff),
        (response, "create_change_set", response_create_change_set),
        (response, "describe_change_set", response_describe_change_set),
        (response, "delete_change_set", response_delete_change_set),
        (response, "list_change_sets", response_list_change_sets),
        (response, "update_stack", response_update_stack),
        (Stack, "_emulator_installed", True),
    ]
    for owner, name, value in patches:
        setattr(owner, name, value)
