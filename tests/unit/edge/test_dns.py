"""infra/dns.py: the Cloudflare records of the edge, and how they are rendered."""

from __future__ import annotations

import json

import pytest

from infra.dns import (
    PENDING,
    TABLE_COLUMNS,
    DnsRecord,
    ValidationRecord,
    dns_model,
    hostname_record,
    to_bind,
    to_json,
    to_table_rows,
)

HOSTS = ("portal.rocketclub.online", "pipelines.rocketclub.online")
CLOUDFRONT = "d111111abcdef8.cloudfront.net"
VALIDATION = (
    ValidationRecord("_a1b2.portal.rocketclub.online.", "_c3d4.xlfgrmvvlj.acm-validations.aws."),
    ValidationRecord("_e5f6.pipelines.rocketclub.online.", "_a7b8.xlfgrmvvlj.acm-validations.aws."),
)


def test_hostnames_are_proxied_cnames_to_the_distribution() -> None:
    # GIVEN a deployed distribution WHEN modeled THEN one proxied CNAME per hostname, automatic TTL
    records = dns_model(HOSTS, CLOUDFRONT + ".", ())
    assert [(r.name, r.type, r.content, r.proxied, r.ttl) for r in records] == [
        ("portal.rocketclub.online", "CNAME", CLOUDFRONT, True, 1),
        ("pipelines.rocketclub.online", "CNAME", CLOUDFRONT, True, 1),
    ]
    assert not any(r.pending for r in records)


def test_unknown_distribution_domain_is_pending() -> None:
    # GIVEN no deployed stack WHEN modeled THEN the hostnames' content says so
    records = dns_model(HOSTS, None)
    assert [r.content for r in records] == [PENDING, PENDING]
    assert all(r.pending for r in records)


def test_validation_records_are_dns_only_deduplicated_and_normalized() -> None:
    # GIVEN ACM's records (trailing dots, one repeated) WHEN modeled THEN DNS-only CNAMEs without dots
    records = dns_model(
        HOSTS, CLOUDFRONT, [*VALIDATION, ("_A1B2.portal.rocketclub.online.", VALIDATION[0].value)]
    )
    validation = records[2:]
    assert [(r.name, r.content, r.proxied) for r in validation] == [
        ("_a1b2.portal.rocketclub.online", "_c3d4.xlfgrmvvlj.acm-validations.aws", False),
        ("_e5f6.pipelines.rocketclub.online", "_a7b8.xlfgrmvvlj.acm-validations.aws", False),
    ]
    assert all("ACM" in r.purpose for r in validation)


def test_hostname_record_keeps_its_target_verbatim() -> None:
    # GIVEN a target that is a CDK token WHEN a record is made THEN the token is not altered
    token = "${Token[TOKEN.123]}"
    assert hostname_record("Portal.rocketclub.online", token) == DnsRecord(
        name="portal.rocketclub.online",
        type="CNAME",
        content=token,
        proxied=True,
        purpose="portal via CloudFront",
    )


@pytest.mark.parametrize("hosts", [(), ("not a name",), ("portal",)])
def test_rejects_bad_hostnames(hosts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        dns_model(hosts, CLOUDFRONT)


def test_table_rows_match_the_columns() -> None:
    rows = to_table_rows(dns_model(HOSTS, None, VALIDATION[:1]))
    assert all(len(row) == len(TABLE_COLUMNS) for row in rows)
    assert rows[0][:5] == ("portal.rocketclub.online", "CNAME", PENDING, "proxied", "auto")
    assert rows[2][3] == "DNS only"


def test_json_uses_cloudflare_field_names() -> None:
    document = to_json(dns_model(HOSTS, CLOUDFRONT, VALIDATION[:1]))
    json.dumps(document)
    assert document[0] == {
        "name": "portal.rocketclub.online",
        "type": "CNAME",
        "content": CLOUDFRONT,
        "proxied": True,
        "ttl": 1,
        "purpose": "portal via CloudFront",
        "pending": False,
    }
    assert document[2]["proxied"] is False


def test_bind_fragment_is_absolute_with_cloudflare_proxy_tags() -> None:
    # GIVEN known records WHEN rendered as BIND THEN $ORIGIN, trailing dots, proxied ones tagged for import
    zone = to_bind(dns_model(HOSTS, CLOUDFRONT, VALIDATION[:1]), "rocketclub.online")
    lines = [line for line in zone.splitlines() if not line.startswith("; ")]
    assert lines == [
        "$ORIGIN rocketclub.online.",
        f"portal.rocketclub.online.\t1\tIN\tCNAME\t{CLOUDFRONT}. ; cf_tags=cf-proxied:true",
        f"pipelines.rocketclub.online.\t1\tIN\tCNAME\t{CLOUDFRONT}. ; cf_tags=cf-proxied:true",
        "_a1b2.portal.rocketclub.online.\t1\tIN\tCNAME\t_c3d4.xlfgrmvvlj.acm-validations.aws.",
    ]
    assert "; portal via CloudFront" in zone.splitlines()
    assert zone.endswith("\n")


def test_bind_comments_out_pending_records() -> None:
    zone = to_bind(dns_model(HOSTS, None), "rocketclub.online.")
    records = [line for line in zone.splitlines()[1:] if "CNAME" in line]
    assert records and all(line.startswith("; ") and PENDING in line for line in records)


def test_bind_refuses_records_outside_the_zone() -> None:
    with pytest.raises(ValueError, match="outside the zone"):
        to_bind(dns_model(HOSTS, CLOUDFRONT), "example.com")
    with pytest.raises(ValueError, match="not a DNS name"):
        to_bind([], "not a zone")
