"""The modeled Cloudflare records against the world: resolved through a DNS resolver, and planned and
applied in Cloudflare through its official SDK.

A proxied record (orange cloud) never shows its CNAME to resolvers: Cloudflare answers with its own
addresses. So through DNS a proxied record conforms when its name resolves to addresses and not to a
visible CNAME; a DNS-only record (the ACM validation CNAMEs) conforms when its CNAME target is the
modeled one. Only the Cloudflare API shows a proxied record's target, which `dns apply` compares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import httpx

from infra.dns import (
    CLOUDFLARE_AUTO_TTL,
    CNAME,
    ORIGIN_RULE_REF,
    TRANSFORM_PHASE,
    DnsRecord,
    OriginHeaderRule,
)

DEFAULT_PORT = 53
DEFAULT_TIMEOUT_S = 3.0
MANAGED_COMMENT = "managed by blog_infra"
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\s]+))(?::(?P<port>\d{1,5}))?$")


class DnsCheckError(Exception):
    """A problem explained in one line (bad resolver address, Cloudflare refusal)."""


@dataclass(frozen=True)
class Resolver:
    host: str
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str) -> Resolver:
        """`HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT`."""
        match = _HOST_PORT.fullmatch(text.strip())
        if match is None:
            raise DnsCheckError(
                f"--resolver {text!r} must be HOST or HOST:PORT, e.g. 1.1.1.1 or 127.0.0.1:5353"
            )
        port = int(match["port"] or DEFAULT_PORT)
        if not 1 <= port <= 65535:
            raise DnsCheckError(f"--resolver {text!r}: port {port} must be between 1 and 65535")
        return cls(match["v6"] or match["host"], port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Outcome(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"
    PENDING = "pending"
    ERROR = "error"


@dataclass(frozen=True)
class RecordCheck:
    record: DnsRecord
    outcome: Outcome
    found: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.record.name,
            "type": self.record.type,
            "expected": self.record.content,
            "proxied": self.record.proxied,
            "outcome": self.outcome.value,
            "found": self.found,
            "note": self.note,
        }


def _normalized(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _query(
    name: str, rdtype: dns.rdatatype.RdataType, resolver: Resolver, timeout: float
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    response = dns.query.udp(query, resolver.host, port=resolver.port, timeout=timeout)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, resolver.host, port=resolver.port, timeout=timeout)
    return response


def _answers(response: dns.message.Message, name: str, rdtype: dns.rdatatype.RdataType) -> list[str]:
    owner = dns.name.from_text(name)
    return [
        _normalized(rdata.to_text())
        for rrset in response.answer
        if rrset.rdtype == rdtype and rrset.name == owner
        for rdata in rrset
    ]


def check_record(record: DnsRecord, resolver: Resolver, timeout: float = DEFAULT_TIMEOUT_S) -> RecordCheck:
    """Resolve one modeled record through `resolver` and compare."""
    if record.pending:
        return RecordCheck(record, Outcome.PENDING, "-", "its target is known once the stack is deployed")
    expected = _normalized(record.content)
    try:
        response = _query(record.name, dns.rdatatype.CNAME, resolver, timeout)
        if response.rcode() == dns.rcode.NXDOMAIN:
            return RecordCheck(record, Outcome.MISSING, "NXDOMAIN")
        if response.rcode() != dns.rcode.NOERROR:
            return RecordCheck(record, Outcome.ERROR, dns.rcode.to_text(response.rcode()))
        targets = _answers(response, record.name, dns.rdatatype.CNAME)
        if targets:
            found = f"CNAME {', '.join(targets)}"
            if record.proxied:
                note = "DNS only, expected proxied" if targets == [expected] else "expected a proxied CNAME"
                return RecordCheck(record, Outcome.MISMATCH, found, note)
            outcome = Outcome.OK if targets == [expected] else Outcome.MISMATCH
            return RecordCheck(record, outcome, found)
        addresses = [
            address
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for address in _answers(_query(record.name, rdtype, resolver, timeout), record.name, rdtype)
        ]
    except (dns.exception.Timeout, OSError, dns.exception.DNSException) as exc:
        return RecordCheck(record, Outcome.ERROR, f"no answer from {resolver} ({type(exc).__name__})")
    if not addresses:
        return RecordCheck(record, Outcome.MISSING, "no CNAME, A or AAAA")
    found = ", ".join(addresses[:4]) + (" ..." if len(addresses) > 4 else "")
    if record.proxied:
        return RecordCheck(record, Outcome.OK, found, "proxied: Cloudflare hides the CNAME target")
    return RecordCheck(record, Outcome.MISMATCH, found, f"expected CNAME {expected}")


def check_records(
    records: Iterable[DnsRecord], resolver: Resolver, timeout: float = DEFAULT_TIMEOUT_S
) -> list[RecordCheck]:
    return [check_record(record, resolver, timeout) for record in records]


# --- Cloudflare --------------------------------------------------------------------------------------


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIP = "skip"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class PlannedChange:
    record: DnsRecord
    action: Action
    current: str
    record_id: str | None = None

    @property
    def changes(self) -> bool:
        return self.action in (Action.CREATE, Action.UPDATE)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.record.name,
            "type": self.record.type,
            "content": self.record.content,
            "proxied": self.record.proxied,
            "action": self.action.value,
            "current": self.current,
        }


def http_client() -> httpx.Client | None:
    """The HTTP client the Cloudflare SDK uses; None: its own. Tests replace this function."""
    return None


def cloudflare_client(token: str) -> Any:
    """The official Cloudflare SDK, authenticated with an API token (never printed)."""
    from cloudflare import Cloudflare

    client = http_client()
    if client is not None:
        return Cloudflare(api_token=token, http_client=client, max_retries=0)
    return Cloudflare(api_token=token)


def zone_id(client: Any, domain: str, configured: str | None) -> str:
    """`configured` (CLOUDFLARE_ZONE_ID), else the id of the zone named `domain`."""
    if configured:
        return configured
    zones = [zone for zone in client.zones.list(name=domain)]
    if len(zones) != 1:
        raise DnsCheckError(
            f"Cloudflare has {len(zones)} zones named {domain} for this token: set CLOUDFLARE_ZONE_ID "
            "(or give the token Zone:Read on the zone)"
        )
    return str(zones[0].id)


def _describe(existing: Any) -> str:
    proxy = "proxied" if existing.proxied else "DNS only"
    return f"{existing.type} {existing.content} ({proxy}, ttl {existing.ttl})"


def plan_changes(client: Any, zone: str, records: Sequence[DnsRecord]) -> list[PlannedChange]:
    """What `apply_changes` would do for each modeled record, from the zone's current records."""
    planned = []
    for record in records:
        if record.pending:
            planned.append(PlannedChange(record, Action.SKIP, "target known once the stack is deployed"))
            continue
        existing = list(client.dns.records.list(zone_id=zone, name={"exact": record.name}))
        same = [r for r in existing if r.type == record.type]
        others = [r for r in existing if r.type != record.type]
        if others or len(same) > 1:
            listed = "; ".join(_describe(r) for r in existing)
            planned.append(PlannedChange(record, Action.CONFLICT, f"{listed}: remove these first"))
            continue
        if not same:
            planned.append(PlannedChange(record, Action.CREATE, "-"))
            continue
        current = same[0]
        ttl = CLOUDFLARE_AUTO_TTL if record.proxied else record.ttl
        differs = (
            _normalized(str(current.content)) != _normalized(record.content)
            or bool(current.proxied) != record.proxied
            or (not record.proxied and int(current.ttl) != ttl)
        )
        action = Action.UPDATE if differs else Action.UNCHANGED
        planned.append(PlannedChange(record, action, _describe(current), str(current.id)))
    return planned


def apply_changes(client: Any, zone: str, planned: Sequence[PlannedChange]) -> list[PlannedChange]:
    """Create and update the records of `planned`; what was changed."""
    done = []
    for change in planned:
        if not change.changes:
            continue
        record = change.record
        fields: dict[str, Any] = {
            "zone_id": zone,
            "name": record.name,
            "type": CNAME,
            "content": record.content,
            "proxied": record.proxied,
            "ttl": CLOUDFLARE_AUTO_TTL if record.proxied else record.ttl,
            "comment": f"{MANAGED_COMMENT}: {record.purpose}"[:100],
        }
        if change.action is Action.CREATE:
            client.dns.records.create(**fields)
        else:
            client.dns.records.update(change.record_id, **fields)
        done.append(change)
    return done


# --- origin lock: the request header transform rule ----------------------------------------------------

_RULE_FIELDS = ("id", "ref", "description", "expression", "action", "action_parameters", "enabled")
"""The fields of a phase rule that an update of the phase's entry point takes back unchanged."""


@dataclass(frozen=True)
class PlannedRule:
    """What `apply_rule` would do with the origin-lock transform rule; never holds the header value."""

    rule: OriginHeaderRule
    action: Action
    current: str
    others: tuple[dict[str, Any], ...] = ()
    """The phase's other rules, kept as they are."""

    @property
    def changes(self) -> bool:
        return self.action in (Action.CREATE, Action.UPDATE)


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    dumped = item.to_dict() if hasattr(item, "to_dict") else item.model_dump(exclude_none=True)
    return dict(dumped)


def _phase_rules(client: Any, zone: str) -> list[dict[str, Any]]:
    """The rules of the zone's transform phase; none when the phase has no entry point yet."""
    import cloudflare

    try:
        ruleset = client.rulesets.phases.get(TRANSFORM_PHASE, zone_id=zone)
    except cloudflare.NotFoundError:
        return []
    return [_as_dict(rule) for rule in (_as_dict(ruleset).get("rules") or [])]


def plan_rule(client: Any, zone: str, rule: OriginHeaderRule, value: str | None) -> PlannedRule:
    """Compare the zone's transform rules with the modeled one. `value` is the secret's current value
    (None before the stack is deployed); it is compared, never shown."""
    if value is None:
        return PlannedRule(rule, Action.SKIP, "the origin secret exists once the stack is deployed")
    rules = _phase_rules(client, zone)
    ours = [r for r in rules if r.get("ref") == ORIGIN_RULE_REF]
    others = tuple(
        {k: r[k] for k in _RULE_FIELDS if k in r} for r in rules if r.get("ref") != ORIGIN_RULE_REF
    )
    if not ours:
        return PlannedRule(rule, Action.CREATE, "-", others)
    wanted = rule.to_rule(value)
    found = ours[0]
    headers = (found.get("action_parameters") or {}).get("headers") or {}
    differences = [
        name
        for name, same in (
            ("expression", found.get("expression") == wanted["expression"]),
            ("action", found.get("action") == wanted["action"]),
            ("enabled", found.get("enabled", True) is True),
            ("header", list(headers) == [rule.header]),
            ("value", (headers.get(rule.header) or {}).get("value") == value),
        )
        if not same
    ]
    if not differences:
        return PlannedRule(rule, Action.UNCHANGED, "matches (value is the current secret)", others)
    return PlannedRule(rule, Action.UPDATE, f"differs in: {', '.join(differences)}", others)


def apply_rule(client: Any, zone: str, planned: PlannedRule, value: str) -> bool:
    """Write the phase's rules: the others as they were, then the origin-lock rule; whether it wrote."""
    if not planned.changes:
        return False
    rules = [*planned.others, planned.rule.to_rule(value)]
    client.rulesets.phases.update(TRANSFORM_PHASE, zone_id=zone, rules=rules)
    return True
