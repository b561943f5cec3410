"""A deploy's change set as CloudFormation describes it, in the plan's terms.

The CDK CLI prepares the change set (`cdk deploy --method=prepare-change-set`: it publishes the
assets and creates the change set without executing it) and later executes it
(`--method=execute-change-set`); in between, the deploy reads CloudFormation's own view of every
resource change here (DescribeChangeSet, every page) to guard it, or deletes the change set.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from blog_infra.errors import CliError
from blog_infra.planning import Action, Replacement, ResourceChange
from blog_infra.target import Target

_ACTIONS = {
    "Add": (Action.ADD, Replacement.NO),
    "Import": (Action.ADD, Replacement.NO),
    "Modify": (Action.MODIFY, None),
    "Remove": (Action.REMOVE, Replacement.NO),
    "SyncWithActual": (Action.MODIFY, Replacement.NO),
    # "the exact action for the resource can't be determined" (API reference): it may be replaced
    "Dynamic": (Action.MODIFY, Replacement.CONDITIONAL),
}
_REPLACEMENTS = {"True": Replacement.YES, "Conditional": Replacement.CONDITIONAL, "False": Replacement.NO}
_KEEPS_DATA = {"Retain", "Snapshot", "ReplaceAndRetain", "ReplaceAndSnapshot"}
_NO_CHANGES = ("The submitted information didn't contain changes.", "No updates are to be performed.")
"""The StatusReason prefixes of a change set without changes (as the CDK CLI's changeSetHasNoChanges
reads them; the second one comes with transforms)."""
_CREATING = ("CREATE_PENDING", "CREATE_IN_PROGRESS")


@dataclass(frozen=True)
class ChangeSet:
    name: str
    status: str
    reason: str
    changes: tuple[ResourceChange, ...] = ()

    @property
    def empty(self) -> bool:
        """CloudFormation found nothing to change (the change set failed for that reason only)."""
        return self.status == "FAILED" and self.reason.startswith(_NO_CHANGES)


def resource_change(change: Mapping[str, Any]) -> ResourceChange | None:
    """One `Changes` entry of DescribeChangeSet as a plan change; None for what is not a resource."""
    if change.get("Type", "Resource") != "Resource" or "ResourceChange" not in change:
        return None
    described: Mapping[str, Any] = change["ResourceChange"]
    action, replacement = _ACTIONS.get(str(described.get("Action")), (Action.MODIFY, Replacement.CONDITIONAL))
    if replacement is None:
        replacement = _REPLACEMENTS.get(str(described.get("Replacement")), Replacement.CONDITIONAL)
    properties = sorted(
        {
            str(detail["Target"]["Name"])
            for detail in described.get("Details") or []
            if detail.get("Target", {}).get("Attribute") == "Properties" and detail["Target"].get("Name")
        }
    )
    return ResourceChange(
        logical_id=str(described.get("LogicalResourceId")),
        resource_type=str(described.get("ResourceType")),
        action=action,
        replacement=replacement,
        properties=tuple(properties),
        retained=described.get("PolicyAction") in _KEEPS_DATA,
    )


def describe(
    target: Target, stack_name: str, name: str, *, timeout: float = 300.0, poll: float = 2.0
) -> ChangeSet:
    """The change set `name` of `stack_name` once it is created, with the changes of every page."""
    client = target.client("cloudformation")
    deadline = time.monotonic() + timeout
    try:
        page = client.describe_change_set(StackName=stack_name, ChangeSetName=name)
        while page.get("Status") in _CREATING and time.monotonic() < deadline:
            time.sleep(poll)
            page = client.describe_change_set(StackName=stack_name, ChangeSetName=name)
        status, reason = str(page.get("Status")), str(page.get("StatusReason") or "")
        entries = list(page.get("Changes") or [])
        while page.get("NextToken"):
            page = client.describe_change_set(
                StackName=stack_name, ChangeSetName=name, NextToken=page["NextToken"]
            )
            entries += page.get("Changes") or []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise CliError(f"could not read change set {name} of {stack_name}: {error}") from None
    if status in _CREATING:
        raise CliError(f"change set {name} of {stack_name} was still being created after {timeout:.0f} s")
    changes = tuple(c for c in (resource_change(entry) for entry in entries) if c is not None)
    return ChangeSet(name=name, status=status, reason=reason, changes=changes)


def delete(target: Target, stack_name: str, name: str) -> str | None:
    """Delete the change set; the reason when that failed (the caller decides how to say so)."""
    try:
        target.client("cloudformation").delete_change_set(StackName=stack_name, ChangeSetName=name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        return str(error)
    return None
