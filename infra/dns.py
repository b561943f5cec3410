"""The Cloudflare DNS records of the platform.

Cloudflare holds the zone of the platform's domain and is not provisioned by this repository: the
records are modeled here, from the configuration and the deployed stack, and created in Cloudflare
by an operator (`blog-infra dns plan` prints them). Values only known after a deploy (the CloudFront
domain, the certificate's validation records) are shown as `PENDING` until then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

DISTRIBUTION_DOMAIN_OUTPUT = "EdgeDistributionDomain"
"""Id (and output key) of the stack output that holds the CloudFront distribution's domain name."""
ORIGIN_HEADER = "X-Blog-Origin-Verify"
"""The request header Cloudflare adds to every proxied request and every load balancer rule requires."""
ORIGIN_SECRET_LOGICAL_ID = "EdgeOriginVerifySecret"
"""Logical id of the Secrets Manager secret that holds the header's values."""
ORIGIN_CURRENT_KEY = "current"
"""JSON key of the value Cloudflare sends."""
ORIGIN_PREVIOUS_KEY = "previous"
"""JSON key of the value still accepted during a rotation."""
TRANSFORM_PHASE = "http_request_late_transform"
"""Cloudflare's ruleset phase of request header transform rules (zone level)."""
PENDING = "<pending deploy>"
"""Content of a record whose value is only known once the stack is deployed."""
CLOUDFLARE_AUTO_TTL = 1
"""Cloudflare's TTL value meaning "automatic"; proxied records always use it."""
CNAME = "CNAME"
TABLE_COLUMNS = ("Name", "Type", "Content", "Proxy", "TTL", "Purpose")

_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class ValidationRecord(NamedTuple):
    """A CNAME that ACM asks for to prove control of one of the certificate's names."""

    name: str
    value: str


@dataclass(frozen=True)
class DnsRecord:
    """One record in the Cloudflare zone."""

    name: str
    """Fully qualified name, without the trailing dot."""
    type: str
    """Record type; the platform only needs CNAME records."""
    content: str
    """Target of the record, without the trailing dot, or `PENDING`."""
    proxied: bool
    """Whether Cloudflare proxies the traffic (orange cloud) or only answers DNS."""
    ttl: int = CLOUDFLARE_AUTO_TTL
    """TTL in seconds; `CLOUDFLARE_AUTO_TTL` lets Cloudflare choose."""
    purpose: str = ""
    """Why the record exists, for the operator who creates it."""

    @property
    def pending(self) -> bool:
        return self.content == PENDING


def _normalized(name: str) -> str:
    return name.strip().rstrip(".").lower()


def hostname_record(hostname: str, target: str) -> DnsRecord:
    """The proxied CNAME that sends a hostname to the CloudFront distribution; `target` is used as
    given, so it may be a CDK token."""
    name = _normalized(hostname)
    if not _NAME.fullmatch(name):
        raise ValueError(f"{hostname!r} is not a DNS name such as portal.rocketclub.online")
    return DnsRecord(
        name=name,
        type=CNAME,
        content=target,
        proxied=True,
        purpose=f"{name.split('.')[0]} via CloudFront",
    )


def dns_model(
    config_hostnames: Sequence[str],
    distribution_domain: str | None,
    validation_records: Iterable[ValidationRecord | tuple[str, str]] = (),
) -> list[DnsRecord]:
    """The records the platform needs.

    One proxied CNAME per hostname to the CloudFront distribution (`PENDING` while its domain is
    unknown), then one DNS-only CNAME per distinct ACM validation record. ACM validates by resolving
    its record, so a validation record must never be proxied.
    """
    if not config_hostnames:
        raise ValueError("dns_model needs at least one hostname")
    target = _normalized(distribution_domain) if distribution_domain else PENDING
    records = [hostname_record(hostname, target) for hostname in config_hostnames]
    seen: set[tuple[str, str]] = set()
    for raw_name, raw_value in validation_records:
        key = (_normalized(raw_name), _normalized(raw_value))
        if key in seen:
            continue
        seen.add(key)
        records.append(
            DnsRecord(
                name=key[0],
                type=CNAME,
                content=key[1],
                proxied=False,
                purpose="ACM validation (keep)",
            )
        )
    return records


def to_table_rows(records: Iterable[DnsRecord]) -> list[tuple[str, str, str, str, str, str]]:
    """Rows matching `TABLE_COLUMNS`."""
    return [
        (
            record.name,
            record.type,
            record.content,
            "proxied" if record.proxied else "DNS only",
            "auto" if record.ttl == CLOUDFLARE_AUTO_TTL else str(record.ttl),
            record.purpose,
        )
        for record in records
    ]


def to_json(records: Iterable[DnsRecord]) -> list[dict[str, Any]]:
    """JSON-ready records, in the field names of Cloudflare's DNS records API plus `purpose`."""
    return [
        {
            "name": record.name,
            "type": record.type,
            "content": record.content,
            "proxied": record.proxied,
            "ttl": record.ttl,
            "purpose": record.purpose,
            "pending": record.pending,
        }
        for record in records
    ]


def to_bind(records: Iterable[DnsRecord], origin: str) -> str:
    """A BIND zone fragment that Cloudflare's zone import reads.

    Names and targets are absolute (trailing dot); each record follows a comment with its purpose.
    Proxied records end with Cloudflare's `cf_tags=cf-proxied:true` comment, which its zone import
    turns into the proxy setting; a record whose content is still pending is written commented out.
    """
    zone = _normalized(origin)
    if not _NAME.fullmatch(zone):
        raise ValueError(f"to_bind: origin {origin!r} is not a DNS name such as rocketclub.online")
    lines = [f"$ORIGIN {zone}."]
    for record in records:
        if record.name != zone and not record.name.endswith(f".{zone}"):
            raise ValueError(f"to_bind: {record.name} is outside the zone {zone}")
        if record.purpose:
            lines.append(f"; {record.purpose}")
        if record.pending:
            pending = f"{record.name}.\t{record.ttl}\tIN\t{record.type}\t{record.content}"
            lines.append(f"; {pending}")
            continue
        line = f"{record.name}.\t{record.ttl}\tIN\t{record.type}\t{record.content}."
        lines.append(f"{line} ; cf_tags=cf-proxied:true" if record.proxied else line)
    return "\n".join(lines) + "\n"


# --- origin lock: the request header transform rule --------------------------------------------------

ORIGIN_RULE_REF = "blog_infra_origin_verify"
"""`ref` of the managed transform rule: how `dns apply` finds it among the zone's other rules."""
SECRET_SHOWN = "<secret: current value of the origin-verify secret>"
"""What a plan shows instead of the header's value, which is never printed."""


@dataclass(frozen=True)
class OriginHeaderRule:
    """The request header transform rule Cloudflare runs on every proxied request to the platform's
    hostnames: it sets `ORIGIN_HEADER` to the secret's current value, which every load balancer rule
    requires. "Set static" overwrites a header of the same name sent by the client (Cloudflare docs,
    rules/transform/request-header-modification/create-dashboard), so a client cannot supply its own.
    """

    hostnames: tuple[str, ...]
    header: str = ORIGIN_HEADER
    secret_name: str | None = None
    """Name or ARN of the secret holding the value; None before the stack is deployed."""

    @property
    def expression(self) -> str:
        """Cloudflare's rules language: the request's host is one of the platform's hostnames."""
        hosts = " ".join(f'"{_normalized(host)}"' for host in self.hostnames)
        return f"(http.host in {{{hosts}}})"

    @property
    def description(self) -> str:
        return f"managed by blog_infra: origin lock header for {', '.join(self.hostnames)}"

    def to_rule(self, value: str) -> dict[str, Any]:
        """The rule in the shape of Cloudflare's Rulesets API (phase `TRANSFORM_PHASE`, action `rewrite`,
        header operation `set`: developers.cloudflare.com/rules/transform/request-header-modification/
        create-api)."""
        if not value:
            raise ValueError("the origin header value is empty: set the origin-verify secret first")
        return {
            "ref": ORIGIN_RULE_REF,
            "description": self.description,
            "expression": self.expression,
            "action": "rewrite",
            "action_parameters": {"headers": {self.header: {"operation": "set", "value": value}}},
            "enabled": True,
        }

    def to_json(self) -> dict[str, Any]:
        """The rule as a plan shows it: the value is named, never given."""
        return {
            "phase": TRANSFORM_PHASE,
            "ref": ORIGIN_RULE_REF,
            "expression": self.expression,
            "header": self.header,
            "value": SECRET_SHOWN,
            "secret": self.secret_name or PENDING,
        }


def origin_rule(config_hostnames: Sequence[str], secret_name: str | None) -> OriginHeaderRule:
    """The transform rule of the platform's hostnames."""
    if not config_hostnames:
        raise ValueError("origin_rule needs at least one hostname")
    for hostname in config_hostnames:
        if not _NAME.fullmatch(_normalized(hostname)):
            raise ValueError(f"{hostname!r} is not a DNS name such as portal.rocketclub.online")
    return OriginHeaderRule(tuple(_normalized(h) for h in config_hostnames), secret_name=secret_name)
