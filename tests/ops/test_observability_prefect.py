"""core/observability: the alarms of issue 20 — Prefect's Redis broker (memory, evictions, connections,
replication lag), late flow runs, and the database's connections as a share of its max_connections."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from infra.modules.apps.prefect.construct import LATE_RUN_LOG_TERM
from infra.modules.core.observability.construct import AlarmThresholds, Observability
from infra.modules.core.observability.runbook import runbook_markdown
from tests.ops.test_observability import _Platform
from tests.unit.helpers import new_stack

BROKER_ALARMS = {"pipelines-broker-memory", "pipelines-broker-evictions", "pipelines-broker-connections"}


def _build(nodes: int, **changes: Any) -> tuple[Template, Observability]:
    platform = _Platform(new_stack())
    group = elasticache.CfnReplicationGroup(
        platform.stack,
        "Redis",
        replication_group_description="broker",
        cache_node_type="cache.t4g.micro",
        engine="redis",
        num_cache_clusters=nodes,
        automatic_failover_enabled=nodes > 1,
    )
    log_group = logs.LogGroup(platform.stack, "PrefectLogs")
    values: dict[str, Any] = {
        "thresholds": AlarmThresholds(),
        "database_max_connections": 1669,
        "database_max_capacity": 8.0,
        "broker": group,
        "broker_nodes": nodes,
        "late_runs_log_group": log_group,
        "late_runs_filter_pattern": logs.FilterPattern.all_terms(LATE_RUN_LOG_TERM),
    } | changes
    module = Observability(platform.stack, "Observability", props=platform.props(**values))
    return Template.from_stack(platform.stack), module


@pytest.fixture(scope="module")
def replicated() -> tuple[Template, Observability]:
    # GIVEN prod's broker: a primary and one replica, and an 8 ACU database (1,669 connections)
    return _build(2)


@pytest.fixture(scope="module")
def alarms(replicated: tuple[Template, Observability]) -> dict[str, dict[str, Any]]:
    found = replicated[0].find_resources("AWS::CloudWatch::Alarm")
    return {
        str(a["Properties"]["AlarmName"]).removeprefix("blog-test-"): a["Properties"] for a in found.values()
    }


def _metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    return [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]


def _expression(alarm: dict[str, Any]) -> str:
    [expression] = [query["Expression"] for query in alarm["Metrics"] if "Expression" in query]
    return str(expression)


@pytest.mark.parametrize(
    ("key", "metric", "function", "threshold"),
    [
        ("pipelines-broker-memory", "DatabaseMemoryUsagePercentage", "MAX", 80),
        ("pipelines-broker-evictions", "Evictions", "SUM", 1),
        ("pipelines-broker-connections", "CurrConnections", "MAX", 1000),
        ("pipelines-broker-replication-lag", "ReplicationLag", "MAX", 10),
    ],
)
def test_each_broker_alarm_reads_every_node_because_the_primary_moves(
    alarms: dict[str, dict[str, Any]], key: str, metric: str, function: str, threshold: float
) -> None:
    # WHEN the broker's alarms are synthesized
    alarm = alarms[key]
    # THEN the alarm reads the metric of both nodes, <group id>-001 and -002
    metrics = _metrics(alarm)
    assert {m["Namespace"] for m in metrics} == {"AWS/ElastiCache"}
    assert {m["MetricName"] for m in metrics} == {metric}
    node_ids = [m["Dimensions"][0]["Value"]["Fn::Join"][1] for m in metrics]
    assert sorted(parts[1] for parts in node_ids) == ["-001", "-002"]
    assert all(parts[0] == {"Ref": "Redis"} for parts in node_ids)
    # AND combines them, and fires above the default threshold, notifying the topic both ways
    assert _expression(alarm).startswith(f"{function}([")
    assert alarm["Threshold"] == threshold
    assert alarm["AlarmActions"] and alarm["OKActions"]


def test_a_single_node_broker_has_no_replication_lag_alarm() -> None:
    template, module = _build(1)
    keys = {record.key for record in module.alarms}
    assert keys >= BROKER_ALARMS
    assert "pipelines-broker-replication-lag" not in keys
    # AND the single node is all they read
    alarm = module.cloudwatch_alarms["pipelines-broker-memory"]
    assert alarm is not None
    found = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "blog-test-pipelines-broker-memory"}}
    )
    [props] = [a["Properties"] for a in found.values()]
    assert len(_metrics(props)) == 1


def test_without_a_broker_there_are_no_broker_alarms() -> None:
    platform = _Platform(new_stack())
    module = Observability(
        platform.stack, "Observability", props=platform.props(database_max_connections=823)
    )
    assert not [record.key for record in module.alarms if record.surface == "pipelines-broker"]


def test_late_runs_are_counted_by_a_metric_filter_on_the_prefect_log_group(
    replicated: tuple[Template, Observability], alarms: dict[str, dict[str, Any]]
) -> None:
    template = replicated[0]
    # THEN a metric filter on the Prefect log group counts Docket's mark_flow_run_late lines, 0 otherwise
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "LogGroupName": {"Ref": Match.string_like_regexp("PrefectLogs")},
            "FilterPattern": '"mark_flow_run_late"',
            "MetricTransformations": [
                {
                    "MetricNamespace": "blog-test/prefect",
                    "MetricName": "LateFlowRunLines",
                    "MetricValue": "1",
                    "DefaultValue": 0,
                }
            ],
        },
    )
    # AND the alarm fires on the first such line in a period
    alarm = alarms["pipelines-late-flow-runs"]
    [query] = alarm["Metrics"]
    metric = query["MetricStat"]
    assert (metric["Metric"]["Namespace"], metric["Metric"]["MetricName"], metric["Stat"]) == (
        "blog-test/prefect",
        "LateFlowRunLines",
        "Sum",
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        1,
    )


def test_database_connections_alarm_at_80_percent_of_max_connections(
    alarms: dict[str, dict[str, Any]],
) -> None:
    # GIVEN 1,669 connections at 8 ACU (AWS's table) THEN the alarm fires above 80 % of them
    assert alarms["database-connections"]["Threshold"] == 1335
    [query] = alarms["database-connections"]["Metrics"]
    assert query["MetricStat"]["Metric"]["MetricName"] == "DatabaseConnections"


def test_every_new_alarm_has_its_runbook_line(replicated: tuple[Template, Observability]) -> None:
    module = replicated[1]
    runbook = runbook_markdown(module.alarms)
    for key in (*BROKER_ALARMS, "pipelines-broker-replication-lag", "pipelines-late-flow-runs"):
        [record] = [record for record in module.alarms if record.key == key]
        assert record.check_first and record.check_first in runbook
    assert "## Pipelines broker (Prefect's Redis)" in runbook
    record = next(r for r in module.alarms if r.key == "database-connections")
    assert "80 % of max_connections 1669 at 8 ACU" in record.threshold


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"database_max_connections": None}, "database needs database_max_connections"),
        ({"broker_nodes": 7}, "broker_nodes 7 must be 1 to 6"),
        ({"late_runs_filter_pattern": None}, "late_runs_log_group and late_runs_filter_pattern go together"),
        ({"thresholds": AlarmThresholds(redis_memory_percent=0)}, "redis_memory_percent"),
        ({"thresholds": AlarmThresholds(redis_replication_lag_seconds=0)}, "redis_replication_lag_seconds"),
    ],
)
def test_inconsistent_props_are_refused(changes: dict[str, Any], message: str) -> None:
    nodes = 2
    with pytest.raises(ValueError, match=message):
        _build(nodes, **changes)
