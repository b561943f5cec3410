"""`dns check` against a DNS server the test runs on loopback, and `dns apply` against the Cloudflare API
mocked at the HTTP transport."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import httpx
import pytest
from click.testing import CliRunner

from blog_infra import dns_check
from blog_infra.commands import dns as dns_command
from blog_infra.commands.dns import EdgeState, dns_group
from blog_infra.dns_check import DnsCheckError, Resolver
from infra.dns import ORIGIN_HEADER, TRANSFORM_PHASE, ValidationRecord

CLOUDFRONT = "d111111abcdef8.cloudfront.net"
PORTAL = "portal.rocketclub.online"
PIPELINES = "pipelines.rocketclub.online"
PORTAL_VALIDATION = ValidationRecord("_a1b2.portal.rocketclub.online", "_c3d4.acm-validations.aws")
PIPELINES_VALIDATION = ValidationRecord("_e5f6.pipelines.rocketclub.online", "_a7b8.acm-validations.aws")
TOKEN = "cf-test-token-0123456789abcdef"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
LIFETIME_S = 30.0


class DnsResponder:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP), answering from a dict, in a thread that stops
    when asked or after `LIFETIME_S` on its own."""

    def __init__(self, zone: dict[tuple[str, str], list[str]]) -> None:
        self.zone = zone
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = int(self.socket.getsockname()[1])
        self.stopping = threading.Event()
        self.queries: list[tuple[str, str]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsResponder:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.socket.close()

    def _serve(self) -> None:
        deadline = time.monotonic() + LIFETIME_S
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                data, peer = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.socket.sendto(self._answer(dns.message.from_wire(data)).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".")
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if not any(known == name for known, _ in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        values = self.zone.get((name, rdtype), [])
        if values:
            response.answer.append(dns.rrset.from_text(question.name, 300, "IN", rdtype, *values))
        return response


class FakeTarget:
    description = "AWS account 111111111111 in us-east-1"


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    state = EdgeState("CREATE_COMPLETE", CLOUDFRONT, 1, (PORTAL_VALIDATION, PIPELINES_VALIDATION))
    monkeypatch.setattr(dns_command, "resolve", lambda config: FakeTarget())
    monkeypatch.setattr(dns_command, "read_edge_state", lambda target, stack: state)


def _check(port: int, *extra: str) -> Any:
    args = ["check", "--env", "prod", "--resolver", f"127.0.0.1:{port}", "--timeout", "1", *extra]
    return CliRunner().invoke(dns_group, args)


CONFORMING = {
    (PORTAL, "A"): ["104.16.1.1", "104.16.2.1"],
    (PIPELINES, "A"): ["104.16.1.1"],
    (PIPELINES, "AAAA"): ["2606:4700::6810:101"],
    (PORTAL_VALIDATION.name, "CNAME"): [f"{PORTAL_VALIDATION.value}."],
    (PIPELINES_VALIDATION.name, "CNAME"): [f"{PIPELINES_VALIDATION.value}."],
}


# --- dns check ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("deployed")
def test_check_passes_when_every_record_resolves_as_modeled() -> None:
    # GIVEN a resolver whose answers match the model (proxied names answer with addresses)
    with DnsResponder(dict(CONFORMING)) as server:
        # WHEN dns check asks it
        result = _check(server.port, "--json")
    # THEN every record is ok and the exit code is 0
    assert result.exit_code == 0, result.output
    outcomes = {r["name"]: r["outcome"] for r in json.loads(result.output)["records"]}
    assert set(outcomes.values()) == {"ok"} and len(outcomes) == 4
    # AND the validation records were asked as CNAMEs, the proxied names as CNAME then A/AAAA
    assert (PORTAL_VALIDATION.name, "CNAME") in server.queries
    assert (PORTAL, "A") in server.queries and (PORTAL, "AAAA") in server.queries


@pytest.mark.usefixtures("deployed")
def test_check_reports_mismatches_and_exits_drift() -> None:
    zone = dict(CONFORMING)
    # GIVEN pipelines as a visible (unproxied) CNAME, a wrong validation target and a missing one
    del zone[(PIPELINES, "A")], zone[(PIPELINES, "AAAA")]
    zone[(PIPELINES, "CNAME")] = [f"{CLOUDFRONT}."]
    zone[(PORTAL_VALIDATION.name, "CNAME")] = ["_wrong.acm-validations.aws."]
    del zone[(PIPELINES_VALIDATION.name, "CNAME")]
    with DnsResponder(zone) as server:
        result = _check(server.port)
    # THEN each is named with what was found, and the exit code is 6
    assert result.exit_code == 6, result.output
    assert "DNS only, expected" in result.output and "proxied" in result.output
    assert "_wrong.acm-validations.aws" in result.output
    assert "NXDOMAIN" in result.output and "mismatch" in result.output and "missing" in result.output


@pytest.mark.usefixtures("deployed")
def test_check_without_an_answer_could_not_check() -> None:
    # GIVEN a port where nothing answers
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        result = _check(int(silent.getsockname()[1]), "--timeout", "0.2")
    # THEN the records could not be checked: exit 5, not a pass and not drift
    assert result.exit_code == 5, result.output
    assert "no answer from 127.0.0.1" in result.output


def test_pending_records_are_not_queried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns_command, "resolve", lambda config: FakeTarget())
    monkeypatch.setattr(dns_command, "read_edge_state", lambda target, stack: EdgeState())
    with DnsResponder({}) as server:
        result = _check(server.port, "--json")
    assert result.exit_code == 0, result.output
    assert {r["outcome"] for r in json.loads(result.output)["records"]} == {"pending"}
    assert server.queries == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.1.1.1", Resolver("1.1.1.1", 53)),
        ("127.0.0.1:5353", Resolver("127.0.0.1", 5353)),
        ("[::1]:53", Resolver("::1", 53)),
        ("ns.example.org", Resolver("ns.example.org", 53)),
    ],
)
def test_resolver_addresses(text: str, expected: Resolver) -> None:
    assert Resolver.parse(text) == expected


@pytest.mark.parametrize("text", ["", "host:port", "1.1.1.1:70000", "a b"])
def test_bad_resolver_addresses_are_refused(text: str) -> None:
    with pytest.raises(DnsCheckError, match="--resolver"):
        Resolver.parse(text)


# --- dns apply ---------------------------------------------------------------------------------------


class FakeCloudflare:
    """The DNS records API of one zone, at the HTTP level."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.authorizations: set[str] = set()
        self.phase_rules: list[dict[str, Any]] | None = None
        """The transform phase's rules; None: the zone has no entry point for the phase (404)."""
        self.phase_writes: list[dict[str, Any]] = []

    @staticmethod
    def _page(items: list[dict[str, Any]], page: int = 1) -> dict[str, Any]:
        items = items if page == 1 else []
        info = {
            "page": page,
            "per_page": 100,
            "count": len(items),
            "total_count": len(items),
            "total_pages": 1,
        }
        return {"success": True, "errors": [], "messages": [], "result": items, "result_info": info}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.add(request.headers.get("Authorization", ""))
        path = request.url.path
        if path.endswith("/zones") and request.method == "GET":
            assert request.url.params.get("name") == "rocketclub.online"
            page = int(request.url.params.get("page", "1"))
            return httpx.Response(200, json=self._page([{"id": ZONE, "name": "rocketclub.online"}], page))
        if path.endswith(f"/zones/{ZONE}/rulesets/phases/{TRANSFORM_PHASE}/entrypoint"):
            return self._phase(request)
        assert f"/zones/{ZONE}/dns_records" in path, path
        if request.method == "GET":
            name = request.url.params.get("name.exact")
            page = int(request.url.params.get("page", "1"))
            return httpx.Response(200, json=self._page([r for r in self.records if r["name"] == name], page))
        body = json.loads(request.content)
        self.writes.append((request.method, body))
        record = {"id": f"rec{len(self.records) + 1}", **body}
        if request.method == "PUT":
            record_id = path.rsplit("/", 1)[-1]
            self.records = [r for r in self.records if r["id"] != record_id]
            record["id"] = record_id
        self.records.append(record)
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": record})

    def _phase(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and self.phase_rules is None:
            error = {"code": 10003, "message": "Could not find entrypoint ruleset in the phase"}
            return httpx.Response(
                404, json={"success": False, "errors": [error], "messages": [], "result": None}
            )
        if request.method == "PUT":
            body = json.loads(request.content)
            self.phase_writes.append(body)
            self.phase_rules = [
                {"id": f"r{i}", "version": "1", **rule} for i, rule in enumerate(body["rules"])
            ]
        ruleset = {
            "id": "rs1",
            "name": "default",
            "kind": "zone",
            "phase": TRANSFORM_PHASE,
            "rules": self.phase_rules,
        }
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": ruleset})


def _existing(name: str, content: str, proxied: bool, record_id: str) -> dict[str, Any]:
    return {"id": record_id, "name": name, "type": "CNAME", "content": content, "proxied": proxied, "ttl": 1}


@pytest.fixture
def cloudflare(monkeypatch: pytest.MonkeyPatch, deployed: None) -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare(
        [
            _existing(PORTAL, CLOUDFRONT, True, "rec-portal"),
            _existing(PIPELINES, "old.cloudfront.net", True, "rec-pipelines"),
        ]
    )
    monkeypatch.setattr(
        dns_check, "http_client", lambda: httpx.Client(transport=httpx.MockTransport(fake.handler))
    )
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.delenv("CLOUDFLARE_ZONE_ID", raising=False)
    yield fake


def _apply(*extra: str) -> Any:
    return CliRunner().invoke(dns_group, ["apply", "--env", "prod", *extra], input="")


def test_apply_without_yes_shows_the_plan_and_changes_nothing(cloudflare: FakeCloudflare) -> None:
    # WHEN applied without --yes outside a terminal
    result = _apply()
    # THEN the plan shows one unchanged, one update and two creations, and nothing was written (exit 3)
    assert result.exit_code == 3, result.output
    assert "unchanged" in result.output and "update" in result.output and "create" in result.output
    assert "old.cloudfront.net" in result.output
    assert "Nothing changed: 3 change(s) planned; pass --yes" in result.output
    assert cloudflare.writes == []
    assert TOKEN not in result.output


def test_apply_with_yes_creates_and_updates(cloudflare: FakeCloudflare) -> None:
    result = _apply("--yes")
    assert result.exit_code == 0, result.output
    assert "Applied 3 change(s)" in result.output
    methods = sorted(method for method, _ in cloudflare.writes)
    assert methods == ["POST", "POST", "PUT"]
    updated = next(body for method, body in cloudflare.writes if method == "PUT")
    assert (updated["name"], updated["content"], updated["proxied"]) == (PIPELINES, CLOUDFRONT, True)
    created = {body["name"]: body for method, body in cloudflare.writes if method == "POST"}
    assert created[PORTAL_VALIDATION.name]["proxied"] is False
    assert created[PORTAL_VALIDATION.name]["content"] == PORTAL_VALIDATION.value
    assert created[PORTAL_VALIDATION.name]["comment"].startswith("managed by blog_infra")
    # AND the token went only into the Authorization header, never to the output
    assert cloudflare.authorizations == {f"Bearer {TOKEN}"}
    assert TOKEN not in result.output
    # AND a second apply finds nothing to do
    again = _apply()
    assert again.exit_code == 0 and "No changes" in again.output


def test_apply_never_touches_conflicting_records(cloudflare: FakeCloudflare) -> None:
    cloudflare.records.append(
        {
            "id": "rec-a",
            "name": PORTAL_VALIDATION.name,
            "type": "TXT",
            "content": "x",
            "proxied": False,
            "ttl": 300,
        }
    )
    result = _apply("--yes")
    assert result.exit_code == 1
    assert "conflict" in result.output and "remove them in Cloudflare" in str(result.exception)
    assert all(body["name"] != PORTAL_VALIDATION.name for _, body in cloudflare.writes)


def test_apply_uses_the_configured_zone_and_reports_refusals(
    cloudflare: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        assert f"/zones/{ZONE}/" in request.url.path
        return httpx.Response(
            403, json={"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
        )

    monkeypatch.setenv("CLOUDFLARE_ZONE_ID", ZONE)
    monkeypatch.setattr(dns_check, "http_client", lambda: httpx.Client(transport=httpx.MockTransport(refuse)))
    result = _apply()
    assert result.exit_code == 1
    assert "Cloudflare refused the request: 403 Authentication error" in str(result.exception)
    assert TOKEN not in result.output + str(result.exception)


def test_apply_needs_a_token(monkeypatch: pytest.MonkeyPatch, deployed: None) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    result = _apply()
    assert "CLOUDFLARE_API_TOKEN is not set" in str(result.exception)


# --- dns apply: the origin lock's transform rule --------------------------------------------------------

ORIGIN_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:blog/prod/edge/origin-verify-AbCdEf"
ORIGIN_VALUE = "s3cr3tOriginValue0123456789abcdefABCDEF0123456789abcdefABCDEF01"
OTHER_RULE = {
    "id": "keep-me",
    "ref": "someone_elses",
    "description": "added by hand",
    "expression": '(http.host eq "www.rocketclub.online")',
    "action": "rewrite",
    "action_parameters": {"headers": {"X-Other": {"operation": "remove"}}},
    "enabled": True,
    "version": "3",
    "last_updated": "2026-01-01T00:00:00Z",
}


class SecretsTarget:
    description = "AWS account 111111111111 in us-east-1"

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.version = "v0-" + "0" * 30
        self.read: list[str] = []

    def client(self, service: str) -> Any:
        assert service == "secretsmanager"
        return self

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.read.append(SecretId)
        return {"SecretString": self.secret, "VersionId": self.version}

    def put_secret_value(self, SecretId: str, SecretString: str) -> dict[str, Any]:
        assert SecretId == ORIGIN_ARN
        self.secret = SecretString
        self.version = f"v{int(self.version[1]) + 1}-" + "0" * 30
        return {"ARN": SecretId, "VersionId": self.version}


@pytest.fixture
def locked(monkeypatch: pytest.MonkeyPatch, cloudflare: FakeCloudflare) -> SecretsTarget:
    """A deployed stack whose origin secret holds ORIGIN_VALUE, its records already in Cloudflare."""
    target = SecretsTarget(json.dumps({"current": ORIGIN_VALUE}))
    state = EdgeState("CREATE_COMPLETE", CLOUDFRONT, 0, (), ORIGIN_ARN)
    monkeypatch.setattr(dns_command, "resolve", lambda config: target)
    monkeypatch.setattr(dns_command, "read_edge_state", lambda target, stack: state)
    cloudflare.records = [
        _existing(PORTAL, CLOUDFRONT, True, "rec-p"),
        _existing(PIPELINES, CLOUDFRONT, True, "rec-q"),
    ]
    return target


def test_apply_creates_the_origin_rule_and_keeps_the_zones_other_rules(
    cloudflare: FakeCloudflare, locked: SecretsTarget
) -> None:
    # GIVEN a zone whose transform phase holds someone else's rule
    cloudflare.phase_rules = [dict(OTHER_RULE)]
    # WHEN applied
    result = _apply("--yes")
    # THEN one change: the phase now holds the other rule unchanged, then ours with the secret's value
    assert result.exit_code == 0, result.output
    assert "Applied 1 change(s)" in result.output
    (written,) = cloudflare.phase_writes
    other, ours = written["rules"]
    assert other == {k: v for k, v in OTHER_RULE.items() if k not in ("version", "last_updated")}
    assert ours["ref"] == "blog_infra_origin_verify" and ours["action"] == "rewrite"
    assert ours["action_parameters"]["headers"] == {
        ORIGIN_HEADER: {"operation": "set", "value": ORIGIN_VALUE}
    }
    assert ours["expression"] == f'(http.host in {{"{PORTAL}" "{PIPELINES}"}})'
    assert locked.read == [ORIGIN_ARN]
    # AND the value is never printed
    assert ORIGIN_VALUE not in result.output
    # AND a second apply finds nothing to do
    again = _apply()
    assert again.exit_code == 0 and "No changes" in again.output, again.output


def test_apply_creates_the_phase_entry_point_when_the_zone_has_none(
    cloudflare: FakeCloudflare, locked: SecretsTarget
) -> None:
    assert cloudflare.phase_rules is None
    result = _apply("--yes")
    assert result.exit_code == 0, result.output
    assert [rule["ref"] for rule in cloudflare.phase_writes[0]["rules"]] == ["blog_infra_origin_verify"]


def test_a_rotated_secret_is_planned_as_an_update_without_showing_either_value(
    cloudflare: FakeCloudflare, locked: SecretsTarget
) -> None:
    # GIVEN Cloudflare still sends the previous value
    cloudflare.phase_rules = [
        {
            "id": "ours",
            "ref": "blog_infra_origin_verify",
            "expression": f'(http.host in {{"{PORTAL}" "{PIPELINES}"}})',
            "action": "rewrite",
            "action_parameters": {"headers": {ORIGIN_HEADER: {"operation": "set", "value": "old"}}},
            "enabled": True,
        }
    ]
    result = _apply()
    # THEN the plan is one update that differs in its value, and neither value shows
    assert result.exit_code == 3, result.output
    assert "differs in: value" in result.output and "1 change(s) planned" in result.output
    assert ORIGIN_VALUE not in result.output and '"old"' not in result.output
    assert cloudflare.phase_writes == []


def test_a_secret_without_a_current_value_is_refused_in_one_line(
    cloudflare: FakeCloudflare, locked: SecretsTarget
) -> None:
    locked.secret = json.dumps({"previous": "x"})
    result = _apply()
    assert result.exit_code == 1
    assert str(result.exception) == f"the origin secret {ORIGIN_ARN} holds no 'current' value"


def _config_with(monkeypatch: pytest.MonkeyPatch, **edge: Any) -> None:
    """`dns` reads prod's config with these edge settings."""
    from infra.config import load_config

    base = load_config("prod")
    config = base.model_copy(update={"edge": base.edge.model_copy(update=edge)})
    monkeypatch.setattr(dns_command, "config_for", lambda env: config)


def test_a_rotation_is_applied_only_once_the_load_balancer_accepts_the_new_value(
    cloudflare: FakeCloudflare, locked: SecretsTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Cloudflare sends the value in place, then a rotation writes a new version
    cloudflare.phase_rules = []
    assert _apply("--yes").exit_code == 0
    (sent,) = [r for r in cloudflare.phase_rules if r["ref"] == "blog_infra_origin_verify"]
    rotated = CliRunner().invoke(dns_group, ["rotate-origin", "--env", "prod", "--json"])
    assert rotated.exit_code == 0, rotated.output
    version = json.loads(rotated.output)["version_id"]
    written = json.loads(locked.secret)
    # THEN the new version keeps the value Cloudflare sends as previous, and a new 64-character current
    assert written["previous"] == ORIGIN_VALUE and re.fullmatch(r"[A-Za-z0-9]{64}", written["current"])
    assert ORIGIN_VALUE not in rotated.output and written["current"] not in rotated.output
    assert f'origin_secret_version = "{version}"' in json.loads(rotated.output)["config"]
    # WHEN dns apply runs before the config pins that version (the load balancer would refuse it)
    early = _apply("--yes")
    # THEN it refuses in one line and Cloudflare keeps sending the old value
    assert early.exit_code == 1
    assert "set edge.origin_secret_version" in str(early.exception) and version in str(early.exception)
    assert cloudflare.phase_rules == [sent]
    # WHEN the config pins it (and is deployed): the apply goes through with the new value
    _config_with(monkeypatch, origin_secret_version=version, accept_previous_origin_value=True)
    done = _apply("--yes")
    assert done.exit_code == 0, done.output
    (now,) = [r for r in cloudflare.phase_rules if r["ref"] == "blog_infra_origin_verify"]
    assert now["action_parameters"]["headers"][ORIGIN_HEADER]["value"] == written["current"]
    # AND a second rotation is refused until this one is finished
    again = CliRunner().invoke(dns_group, ["rotate-origin", "--env", "prod"])
    assert again.exit_code == 1 and "a rotation is in progress" in str(again.exception)
