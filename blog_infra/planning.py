"""What a deploy would change, computed from the deployed and the synthesized templates.

The plan compares CloudFormation templates resource by resource. Whether a modification replaces
the resource comes from the resource's own CloudFormation schema (`createOnlyProperties`, as shipped
with cfn-lint). A resource whose property refers (Ref, Fn::GetAtt, Fn::Sub) to a resource that is or
may be replaced is modified too, since the value it receives changes with the new physical resource:
it may be replaced itself when that property is create-only, and is updated in place otherwise. That
is how CloudFormation reports such a resource in a change set (DescribeChangeSet: a detail with
`Evaluation: Dynamic`; `RequiresRecreation: Always` with a dynamic evaluation gives `Replacement:
Conditional`, see the API reference of ResourceChange and ResourceChangeDetail). The same computation
runs against the emulator and against AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from infra.resource_schemas import create_only_properties

STATEFUL_TYPES = frozenset(
    {
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance",
        "AWS::S3::Bucket",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
        "AWS::ECR::Repository",
        "AWS::Logs::LogGroup",
    }
)
"""Resource types that hold data; replacing or deleting one loses it."""


class Action(StrEnum):
    ADD = "add"
    MODIFY = "modify"
    REMOVE = "remove"


class Replacement(StrEnum):
    NO = "no"
    CONDITIONAL = "conditional"
    YES = "yes"


@dataclass(frozen=True)
class ResourceChange:
    logical_id: str
    resource_type: str
    action: Action
    replacement: Replacement = Replacement.NO
    properties: tuple[str, ...] = ()
    retained: bool = False
    """The resource's DeletionPolicy keeps it (or a snapshot) when it leaves the stack."""

    @property
    def stateful(self) -> bool:
        return self.resource_type in STATEFUL_TYPES

    @property
    def dangerous(self) -> bool:
        """Replacing or deleting a stateful resource loses or orphans its data."""
        if not self.stateful:
            return False
        return self.action is Action.REMOVE or self.replacement is not Replacement.NO


@dataclass(frozen=True)
class Plan:
    changes: tuple[ResourceChange, ...] = ()
    outputs_changed: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.changes and not self.outputs_changed

    @property
    def dangerous(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.changes if c.dangerous)

    def counts(self) -> dict[str, int]:
        result = {action.value: 0 for action in Action}
        for change in self.changes:
            result[change.action.value] += 1
        result["replace"] = sum(1 for c in self.changes if c.replacement is not Replacement.NO)
        result["dangerous"] = len(self.dangerous)
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.counts(),
            "changes": [asdict(c) | {"stateful": c.stateful, "dangerous": c.dangerous} for c in self.changes],
            "outputs_changed": list(self.outputs_changed),
        }


def _references(value: Any) -> set[str]:
    """Logical ids that a template value refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                if isinstance(text, str):
                    found.update(part.split("}")[0].split(".")[0] for part in text.split("${")[1:])
                found |= _references(inner)
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def _retained(resource: Mapping[str, Any]) -> bool:
    return resource.get("DeletionPolicy") in {"Retain", "RetainExceptOnCreate", "Snapshot"}


def _changed_properties(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    old_props = old.get("Properties", {}) or {}
    new_props = new.get("Properties", {}) or {}
    return tuple(
        sorted(key for key in set(old_props) | set(new_props) if old_props.get(key) != new_props.get(key))
    )


def compute_plan(
    deployed: Mapping[str, Any] | None, desired: Mapping[str, Any], *, region: str = "us-east-1"
) -> Plan:
    """The changes that deploying `desired` over `deployed` (None: nothing deployed) makes."""
    old_resources: Mapping[str, Any] = (deployed or {}).get("Resources", {})
    new_resources: Mapping[str, Any] = desired.get("Resources", {})
    changes: dict[str, ResourceChange] = {}

    for logical_id in sorted(set(old_resources) - set(new_resources)):
        old = old_resources[logical_id]
        changes[logical_id] = ResourceChange(logical_id, old["Type"], Action.REMOVE, retained=_retained(old))
    for logical_id in sorted(set(new_resources) - set(old_resources)):
        changes[logical_id] = ResourceChange(logical_id, new_resources[logical_id]["Type"], Action.ADD)

    modified: dict[str, tuple[str, ...]] = {}
    for logical_id in sorted(set(old_resources) & set(new_resources)):
        old, new = old_resources[logical_id], new_resources[logical_id]
        if json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
            modified[logical_id] = _changed_properties(old, new)

    replaced = {
        logical_id
        for logical_id, props in modified.items()
        if old_resources[logical_id]["Type"] != new_resources[logical_id]["Type"]
        or set(props) & create_only_properties(new_resources[logical_id]["Type"], region)
    }
    kept = {logical_id: new_resources[logical_id] for logical_id in set(old_resources) & set(new_resources)}
    referring = _cascade(replaced, kept, region)

    for logical_id in sorted(set(modified) | set(referring)):
        props = modified.get(logical_id, ())
        conditional, follows = referring.get(logical_id, (False, ()))
        replacement = (
            Replacement.YES
            if logical_id in replaced
            else Replacement.CONDITIONAL
            if conditional
            else Replacement.NO
        )
        # A change of type replaces the deployed resource: it is the deployed one that is lost.
        source = old_resources[logical_id] if logical_id in modified else new_resources[logical_id]
        changes[logical_id] = ResourceChange(
            logical_id,
            source["Type"],
            Action.MODIFY,
            replacement=replacement,
            properties=tuple(sorted(set(props) | set(follows))),
            retained=_retained(source),
        )

    old_outputs = (deployed or {}).get("Outputs", {})
    new_outputs = desired.get("Outputs", {})
    outputs_changed = tuple(
        sorted(k for k in set(old_outputs) | set(new_outputs) if old_outputs.get(k) != new_outputs.get(k))
    )
    return Plan(changes=tuple(changes[k] for k in sorted(changes)), outputs_changed=outputs_changed)


def _cascade(
    replaced: Iterable[str], resources: Mapping[str, Any], region: str
) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """The resources with a property that refers to a resource that is or may be replaced, with
    whether such a property is create-only (then they may be replaced in turn, and their own
    referrers follow) and the names of those properties."""
    result: dict[str, tuple[bool, tuple[str, ...]]] = {}
    moving = set(replaced)
    frontier = set(moving)
    while frontier:
        next_frontier: set[str] = set()
        for logical_id, resource in resources.items():
            if logical_id in moving:
                continue
            props = resource.get("Properties", {}) or {}
            follows = {name for name, value in props.items() if _references(value) & moving}
            if not follows:
                continue
            conditional = bool(follows & create_only_properties(resource.get("Type", ""), region))
            result[logical_id] = (conditional, tuple(sorted(follows)))
            if conditional:
                next_frontier.add(logical_id)
        moving |= next_frontier
        frontier = next_frontier
    return result
