"""The Cloudflare DNS records of an environment: modeled from the config and the deployed stack."""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import sys
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
import click
from rich.console import OverflowMethod
from rich.table import Table

from blog_infra import render, stacks
from blog_infra.dns_check import (
    DEFAULT_TIMEOUT_S,
    Action,
    DnsCheckError,
    Outcome,
    PlannedChange,
    PlannedRule,
    Resolver,
    apply_changes,
    apply_rule,
    check_records,
    cloudflare_client,
    plan_changes,
    plan_rule,
    zone_id,
)
from blog_infra.errors import BadInput, CliError
from blog_infra.exit_codes import ExitCode
from blog_infra.options import config_for, env_option, json_option
from blog_infra.target import Target, resolve
from infra.dns import (
    DISTRIBUTION_DOMAIN_OUTPUT,
    ORIGIN_CURRENT_KEY,
    ORIGIN_HEADER,
    ORIGIN_PREVIOUS_KEY,
    ORIGIN_SECRET_LOGICAL_ID,
    PENDING,
    SECRET_SHOWN,
    TABLE_COLUMNS,
    TRANSFORM_PHASE,
    DnsRecord,
    OriginHeaderRule,
    ValidationRecord,
    dns_model,
    origin_rule,
    to_bind,
    to_json,
    to_table_rows,
)

CERTIFICATE_TYPE = "AWS::CertificateManager::Certificate"
FORMATS = ("table", "json", "bind")
_EVENT_RECORD = re.compile(r"Name:\s*([^,\s]+)\s*,\s*Type:\s*CNAME\s*,\s*Value:\s*([^,}\s]+)")
_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


@dataclass(frozen=True)
class EdgeState:
    """What the deployed stack tells about the edge; empty when the stack is not deployed."""

    stack_status: str | None = None
    distribution_domain: str | None = None
    certificates: int = 0
    """Certificates the stack creates; 0 when it imports one (validated outside the stack)."""
    validation_records: tuple[ValidationRecord, ...] = field(default_factory=tuple)
    origin_secret_arn: str | None = None
    """ARN of the origin-lock secret; None until the stack has created it."""

    @property
    def deployed(self) -> bool:
        return self.stack_status is not None


def read_edge_state(target: Target, stack_name: str) -> EdgeState:
    """The distribution domain (stack output) and the certificates' validation records.

    Validation records come from ACM (`describe_certificate`) and, while CloudFormation still waits
    for validation, from the stack events that quote them.
    """
    status = stacks.stack_status(target, stack_name)
    if status is None:
        return EdgeState()
    domain = next(
        (o.value for o in stacks.outputs(target, stack_name) if o.key == DISTRIBUTION_DOMAIN_OUTPUT), None
    )
    cloudformation = target.client("cloudformation")
    resources = _pages(cloudformation.list_stack_resources, "StackResourceSummaries", StackName=stack_name)
    certificates = [r for r in resources if r.get("ResourceType") == CERTIFICATE_TYPE]
    per_certificate = [_acm_records(target, str(c.get("PhysicalResourceId", ""))) for c in certificates]
    records = [record for found in per_certificate for record in found]
    if not all(per_certificate):
        records.extend(_event_records(cloudformation, stack_name))
    unique = tuple(dict.fromkeys(records))
    origin_secret = next(
        (
            str(r["PhysicalResourceId"])
            for r in resources
            if r.get("LogicalResourceId") == ORIGIN_SECRET_LOGICAL_ID
            and str(r.get("PhysicalResourceId", "")).startswith("arn:")
        ),
        None,
    )
    return EdgeState(status, domain, len(certificates), unique, origin_secret)


@dataclass(frozen=True)
class OriginSecret:
    """The origin secret's current version; `repr` never shows the values."""

    value: str = field(repr=False)
    previous: str | None = field(repr=False)
    version_id: str


def read_origin_secret(target: Target, secret_arn: str) -> OriginSecret:
    """The origin secret's current version, for `dns apply` and `dns rotate-origin`; never printed."""
    try:
        answer = target.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        document = json.loads(answer["SecretString"])
        value = document[ORIGIN_CURRENT_KEY]
    except _AWS_ERRORS as exc:
        raise CliError(f"cannot read the origin secret {secret_arn}: {type(exc).__name__}") from None
    except (KeyError, ValueError, TypeError):
        raise CliError(f"the origin secret {secret_arn} holds no '{ORIGIN_CURRENT_KEY}' value") from None
    if not isinstance(value, str) or not value:
        raise CliError(f"the origin secret {secret_arn} holds an empty '{ORIGIN_CURRENT_KEY}' value")
    previous = document.get(ORIGIN_PREVIOUS_KEY)
    return OriginSecret(
        value, previous if isinstance(previous, str) else None, str(answer.get("VersionId", ""))
    )


def read_origin_value(target: Target, secret_arn: str) -> str:
    """The origin secret's current value; never printed."""
    return read_origin_secret(target, secret_arn).value


def _pages(operation: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = operation(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items


def _acm_records(target: Target, arn: str) -> list[ValidationRecord]:
    if not arn.startswith("arn:"):
        return []
    try:
        certificate = target.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    except _AWS_ERRORS:
        return []
    return [
        ValidationRecord(option["ResourceRecord"]["Name"], option["ResourceRecord"]["Value"])
        for option in certificate.get("DomainValidationOptions", [])
        if option.get("ResourceRecord", {}).get("Type") == "CNAME"
    ]


def _event_records(cloudformation: Any, stack_name: str) -> list[ValidationRecord]:
    try:
        events = _pages(cloudformation.describe_stack_events, "StackEvents", StackName=stack_name)
    except _AWS_ERRORS:
        return []
    return [
        ValidationRecord(name, value)
        for event in events
        if event.get("ResourceType") == CERTIFICATE_TYPE
        for name, value in _EVENT_RECORD.findall(str(event.get("ResourceStatusReason", "")))
    ]


def notes(state: EdgeState, stack_name: str, where: str) -> list[str]:
    """What the operator needs to know about the records shown."""
    if not state.deployed:
        return [
            f"Stack {stack_name} is not deployed on {where}: values shown as {PENDING} are known once a "
            "deploy has started (validation records) or finished (CloudFront domain)."
        ]
    lines = []
    if state.distribution_domain is None:
        lines.append(
            f"Stack {stack_name} is {state.stack_status}: the CloudFront domain is known when the deploy "
            "completes; run this again then."
        )
    if state.certificates and not state.validation_records:
        lines.append(
            "Validation records are not readable yet: run this again in a minute, once CloudFormation has "
            "requested the certificate."
        )
    elif state.validation_records:
        lines.append(
            "Create the validation CNAMEs as DNS only (grey cloud) and keep them: the deploy waits until "
            "ACM sees them, and ACM renews the certificate with them."
        )
    if not state.certificates:
        lines.append("The certificate is imported (certificate_arn): it is validated outside the stack.")
    lines.append("Proxied records need Cloudflare's SSL/TLS mode Full (strict).")
    lines.extend(origin_notes(state))
    return lines


def origin_notes(state: EdgeState) -> list[str]:
    """What the Cloudflare operator must do for the origin lock."""
    secret = state.origin_secret_arn or "the origin-verify secret (created by the deploy)"
    return [
        f"Origin lock: the load balancer answers 403 to every request without the header {ORIGIN_HEADER}. "
        f"Keep the request header transform rule below (phase {TRANSFORM_PHASE}, Set static) in place: "
        "`blog-infra dns apply` writes it (its token also needs Zone > Transform Rules > Edit), or "
        f"create it by hand with the value of key '{ORIGIN_CURRENT_KEY}' of {secret}. Never proxy a "
        "platform hostname through another zone or Worker that drops the header.",
    ]


def rule_table(rule: OriginHeaderRule, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Phase", "Expression", "Header", "Value"):
        table.add_column(column, overflow="fold")
    table.add_row(TRANSFORM_PHASE, rule.expression, f"set {rule.header}", SECRET_SHOWN)
    return table


def records_table(records: list[DnsRecord], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in TABLE_COLUMNS:
        wrap: OverflowMethod = "ellipsis" if column == "Purpose" else "fold"
        table.add_column(column, style="bold" if column == "Name" else None, overflow=wrap)
    for row in to_table_rows(records):
        table.add_row(*row, style="yellow" if row[2] == PENDING else None)
    return table


def plan_document(
    env: str, stack_name: str, state: EdgeState, records: list[DnsRecord], rule: OriginHeaderRule
) -> dict[str, Any]:
    return {
        "environment": env,
        "stack": stack_name,
        "deployed": state.deployed,
        "stack_status": state.stack_status,
        "records": to_json(records),
        "origin_rule": rule.to_json(),
    }


@click.group("dns")
def dns_group() -> None:
    """The platform's Cloudflare DNS records: modeled here, checked through DNS, applied in Cloudflare."""


@dns_group.command("plan")
@env_option
@json_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default=None,
    help="Output: a table, JSON (same as --json), or a BIND zone fragment for Cloudflare's import.  "
    "[default: table]",
)
def plan_command(env: str, as_json: bool, output_format: str | None) -> None:
    """Print the Cloudflare records the environment needs: a proxied CNAME per hostname to CloudFront and
    the DNS-only CNAMEs that validate the ACM certificate; then the request header transform rule of
    the origin lock (its value is named, never printed).

    On a first deploy, run it while the deploy waits for certificate validation, create the validation
    records, and the deploy completes.

    Example: blog-infra dns plan --env prod --format bind
    """
    if as_json and output_format not in (None, "json"):
        raise BadInput(f"--json and --format {output_format} disagree: pass one of them")
    chosen = "json" if as_json else output_format or "table"
    config = config_for(env)
    target = resolve(config)
    state = read_edge_state(target, config.stack_name)
    hostnames = (config.portal_host, config.pipelines_host)
    records = dns_model(hostnames, state.distribution_domain, state.validation_records)
    rule = origin_rule(hostnames, state.origin_secret_arn)
    messages = notes(state, config.stack_name, target.description)
    if chosen == "json":
        document = plan_document(config.name, config.stack_name, state, records, rule)
        click.echo(json.dumps(document, indent=2))
    elif chosen == "bind":
        click.echo(to_bind(records, config.domain), nl=False)
        messages.append("A zone file cannot hold the transform rule: see `dns plan` (table or JSON).")
    else:
        render.console.print(records_table(records, f"Cloudflare records of {config.domain} ({config.name})"))
        render.console.print(rule_table(rule, "Cloudflare request header transform rule (origin lock)"))
    out = render.console if chosen == "table" else render.err_console
    for message in messages:
        out.print(message, soft_wrap=True)


def _modeled(env: str) -> tuple[Any, Target, EdgeState, list[DnsRecord]]:
    """The configuration, its target, the deployed edge and the modeled records."""
    config = config_for(env)
    target = resolve(config)
    state = read_edge_state(target, config.stack_name)
    records = dns_model(
        (config.portal_host, config.pipelines_host), state.distribution_domain, state.validation_records
    )
    return config, target, state, records


_OUTCOME_STYLE = {
    Outcome.OK: "green",
    Outcome.MISMATCH: "bold red",
    Outcome.MISSING: "bold red",
    Outcome.PENDING: "yellow",
    Outcome.ERROR: "magenta",
}


@dns_group.command("check")
@env_option
@json_option
@click.option(
    "--resolver",
    "resolver_address",
    required=True,
    metavar="HOST[:PORT]",
    help="DNS resolver to ask, e.g. 1.1.1.1 or 127.0.0.1:5353.",
)
@click.option(
    "--timeout", type=float, default=DEFAULT_TIMEOUT_S, show_default=True, help="Seconds per query."
)
def check_command(env: str, as_json: bool, resolver_address: str, timeout: float) -> None:
    """Resolve the modeled records through a resolver and report mismatches.

    A proxied record passes when its name resolves to addresses (Cloudflare hides a proxied CNAME's
    target); a DNS-only record (ACM validation) passes when its CNAME target is the modeled one.
    Exits 0 when every record resolves as modeled, 6 on a mismatch or a missing record, 5 when the
    resolver does not answer.

    Example: blog-infra dns check --env prod --resolver 1.1.1.1
    """
    try:
        resolver = Resolver.parse(resolver_address)
    except DnsCheckError as exc:
        raise BadInput(str(exc)) from None
    config, _, _, records = _modeled(env)
    results = check_records(records, resolver, timeout)
    if as_json:
        click.echo(
            json.dumps({"resolver": str(resolver), "records": [r.to_json() for r in results]}, indent=2)
        )
    else:
        table = Table(title=f"{config.domain} ({config.name}) through {resolver}", title_justify="left")
        for column in ("Name", "Expected", "Found", "Result", "Note"):
            table.add_column(column, overflow="fold")
        for result in results:
            expected = f"{'proxied' if result.record.proxied else 'CNAME'} -> {result.record.content}"
            outcome = f"[{_OUTCOME_STYLE[result.outcome]}]{result.outcome.value}[/]"
            table.add_row(result.record.name, expected, result.found, outcome, result.note)
        render.console.print(table)
    outcomes = {result.outcome for result in results}
    if outcomes & {Outcome.MISMATCH, Outcome.MISSING}:
        raise SystemExit(ExitCode.DRIFT)
    if Outcome.ERROR in outcomes:
        raise SystemExit(ExitCode.UNAVAILABLE)


_ACTION_STYLE = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.UNCHANGED: "dim",
    Action.SKIP: "yellow",
    Action.CONFLICT: "bold red",
}


def _plan_table(planned: list[PlannedChange], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Action", "Name", "Type", "Content", "Proxy", "Current"):
        table.add_column(column, overflow="fold")
    for change in planned:
        record = change.record
        table.add_row(
            f"[{_ACTION_STYLE[change.action]}]{change.action.value}[/]",
            record.name,
            record.type,
            record.content,
            "proxied" if record.proxied else "DNS only",
            change.current,
        )
    return table


@dns_group.command("apply")
@env_option
@click.option("--yes", is_flag=True, help="Apply without asking (CI).")
def apply_command(env: str, yes: bool) -> None:
    """Create or update the modeled records and the origin lock's request header transform rule in
    Cloudflare, after showing the plan.

    Uses the official Cloudflare SDK with an API token from CLOUDFLARE_API_TOKEN (Zone > DNS > Edit on
    the zone, and Zone > Transform Rules > Edit for the origin lock; never printed) and the zone id
    from CLOUDFLARE_ZONE_ID, or the zone named like the domain (the token then also needs Zone > Zone >
    Read). The rule's value is read from the origin secret in Secrets Manager and never shown; the
    zone's other transform rules are kept as they are. Nothing changes without confirmation:
    without --yes it asks on a terminal, and elsewhere prints the plan and exits 3. Records that other
    records conflict with are never touched.

    Example: CLOUDFLARE_API_TOKEN=... blog-infra dns apply --env prod --yes
    """
    token = os.environ.get("CLOUDFLARE_API_TOKEN", "")
    if not token.strip():
        raise BadInput(
            "CLOUDFLARE_API_TOKEN is not set: create an API token with Zone > DNS > Edit on the zone"
        )
    config, target, state, records = _modeled(env)
    rule = origin_rule((config.portal_host, config.pipelines_host), state.origin_secret_arn)
    secret = read_origin_secret(target, state.origin_secret_arn) if state.origin_secret_arn else None
    value = secret.value if secret else None
    import cloudflare

    try:
        client = cloudflare_client(token.strip())
        zone = zone_id(client, config.domain, os.environ.get("CLOUDFLARE_ZONE_ID") or None)
        planned = plan_changes(client, zone, records)
        planned_rule = plan_rule(client, zone, rule, value)
        _refuse_unaccepted_value(config, planned_rule, secret)
        render.console.print(_plan_table(planned, f"Cloudflare plan for {config.domain} ({config.name})"))
        render.console.print(_rule_plan_table(planned_rule))
        pending = [change for change in planned if change.changes]
        conflicts = [change for change in planned if change.action is Action.CONFLICT]
        count = len(pending) + int(planned_rule.changes)
        if not count:
            render.console.print("No changes: the Cloudflare records and transform rule match the model.")
        else:
            if not yes:
                if not sys.stdin.isatty():
                    render.console.print(
                        f"Nothing changed: {count} change(s) planned; pass --yes to apply them."
                    )
                    raise SystemExit(ExitCode.CHANGES)
                click.confirm(f"Apply {count} change(s) to {config.domain}?", abort=True)
            done = len(apply_changes(client, zone, planned))
            if value is not None and apply_rule(client, zone, planned_rule, value):
                done += 1
            render.console.print(f"Applied {done} change(s) to {config.domain}.")
    except cloudflare.APIError as exc:
        raise CliError(f"Cloudflare refused the request: {_api_message(exc)}") from None
    except DnsCheckError as exc:
        raise CliError(str(exc)) from None
    if conflicts:
        names = ", ".join(change.record.name for change in conflicts)
        raise CliError(f"records in the way of {names}: remove them in Cloudflare, then apply again")


def _refuse_unaccepted_value(config: Any, planned: PlannedRule, secret: OriginSecret | None) -> None:
    """During a rotation, Cloudflare may send the new value only once the load balancer accepts it: the
    environment's config must pin the secret's current version (and be deployed)."""
    if secret is None or secret.previous is None or not planned.changes:
        return
    if config.edge.origin_secret_version != secret.version_id:
        raise CliError(
            f"the origin secret's version {secret.version_id} is not the one the load balancer resolves "
            f"({config.edge.origin_secret_version or 'none pinned'}): set edge.origin_secret_version = "
            f'"{secret.version_id}" and edge.accept_previous_origin_value = true, deploy, then apply again'
        )


def _rule_plan_table(planned: PlannedRule) -> Table:
    table = Table(title="Origin lock transform rule", title_justify="left")
    for column in ("Action", "Phase", "Expression", "Header", "Current"):
        table.add_column(column, overflow="fold")
    table.add_row(
        f"[{_ACTION_STYLE[planned.action]}]{planned.action.value}[/]",
        TRANSFORM_PHASE,
        planned.rule.expression,
        f"set {planned.rule.header} = {SECRET_SHOWN}",
        planned.current,
    )
    return table


ORIGIN_VALUE_ALPHABET = string.ascii_letters + string.digits
ORIGIN_VALUE_LENGTH = 64


def new_origin_value() -> str:
    """Letters and digits only: ALB reads `*` and `?` in header values as wildcards."""
    return "".join(secrets.choice(ORIGIN_VALUE_ALPHABET) for _ in range(ORIGIN_VALUE_LENGTH))


@dns_group.command("rotate-origin")
@env_option
@json_option
def rotate_origin_command(env: str, as_json: bool) -> None:
    """Start a rotation of the origin-lock header value: write a new version of the origin secret whose
    `current` is a new random value and whose `previous` is the value Cloudflare sends now. No value is
    printed.

    Then, in order: pin the printed version in the environment's config with
    accept_previous_origin_value = true and deploy (the load balancer accepts both values); run
    `dns apply` (Cloudflare sends the new value); set accept_previous_origin_value = false and deploy
    (the old value stops working). Nothing fails in between.

    Example: blog-infra dns rotate-origin --env prod
    """
    config = config_for(env)
    target = resolve(config)
    state = read_edge_state(target, config.stack_name)
    if not state.origin_secret_arn:
        raise CliError(
            f"stack {config.stack_name} has no origin secret on {target.description}: deploy it first"
        )
    current = read_origin_secret(target, state.origin_secret_arn)
    if (
        current.previous is not None
        and current.previous != current.value
        and (
            config.edge.accept_previous_origin_value
            or config.edge.origin_secret_version != current.version_id
        )
    ):
        raise CliError(
            f"a rotation is in progress (version {current.version_id}): finish it first (dns apply, then "
            "edge.accept_previous_origin_value = false and deploy)"
        )
    document = {ORIGIN_CURRENT_KEY: new_origin_value(), ORIGIN_PREVIOUS_KEY: current.value}
    try:
        answer = target.client("secretsmanager").put_secret_value(
            SecretId=state.origin_secret_arn, SecretString=json.dumps(document)
        )
    except _AWS_ERRORS as exc:
        raise CliError(
            f"cannot write the origin secret {state.origin_secret_arn}: {type(exc).__name__}"
        ) from None
    version = str(answer["VersionId"])
    lines = [
        "[edge]",
        f'origin_secret_version = "{version}"',
        "accept_previous_origin_value = true",
    ]
    if as_json:
        click.echo(
            json.dumps({"secret": state.origin_secret_arn, "version_id": version, "config": lines}, indent=2)
        )
        return
    render.console.print(f"Wrote version {version} of {state.origin_secret_arn} (values not shown).")
    render.console.print(f"Next: set in infra/envs/{config.name}/config.toml, then deploy:", soft_wrap=True)
    for line in lines:
        render.console.print(f"  {line}", soft_wrap=True, markup=False)
    render.console.print(
        f"Then: blog-infra dns apply --env {config.name}; "
        "then accept_previous_origin_value = false and deploy.",
        soft_wrap=True,
    )


def _api_message(exc: Exception) -> str:
    """Cloudflare's status and error text; the request (and its token) is never shown."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    errors = body.get("errors") if isinstance(body, dict) else None
    text = (
        "; ".join(str(e.get("message", "")) for e in errors or [] if isinstance(e, dict))
        or type(exc).__name__
    )
    return f"{status} {text}" if status else text
