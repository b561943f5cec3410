"""The alarms, the alerts topic and the dashboard of core/observability, deployed to the emulator and
read back."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import LocalPlatform

pytestmark = pytest.mark.integration


def test_alarms_notify_the_encrypted_topic_and_say_what_to_check_first(platform: LocalPlatform) -> None:
    cloudwatch = platform.client("cloudwatch")
    alarms = [
        alarm
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix="blog-local-")
        for alarm in page["MetricAlarms"]
    ]
    names = {alarm["AlarmName"] for alarm in alarms}
    for expected in (
        "blog-local-edge-elb-5xx-rate",
        "blog-local-edge-cloudfront-5xx-rate",
        "blog-local-portal-web-unhealthy-hosts",
        "blog-local-pipelines-api-tasks-below-desired",
        "blog-local-database-capacity-at-max",
        "blog-local-ork-processor-failures-queued",
    ):
        assert expected in names
    topics = [t["TopicArn"] for t in platform.client("sns").list_topics()["Topics"]]
    (topic,) = [arn for arn in topics if arn.endswith(":blog-local-alerts")]
    attributes = platform.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes.get("KmsMasterKeyId")
    for alarm in alarms:
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
        assert "Check first:" in alarm["AlarmDescription"]


def test_dashboard_has_a_row_per_surface(platform: LocalPlatform) -> None:
    body = json.loads(
        platform.client("cloudwatch").get_dashboard(DashboardName="blog-local")["DashboardBody"]
    )
    headers = [w["properties"]["markdown"].splitlines()[0] for w in body["widgets"] if w["type"] == "text"]
    assert headers == [
        "## Edge",
        "## Portal",
        "## Pipelines",
        "## Database",
        "## Ork processor",
        "## Database logins",
        "## Pipelines broker",
        "## Pipelines scheduling",
    ]
