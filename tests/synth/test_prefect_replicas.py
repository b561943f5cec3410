"""The whole app, issue 20: prod's Prefect acts as one service across replicas, and its failures page.

prod selects the standard profile (separate services, Redis, two API tasks at most, 8 ACU); prod under the
lean profile embeds everything in one task without Redis."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.aws_facts import aurora_postgres_max_connections

# Whole-app syntheses of prod, prod under lean and local: out of make test-fast (make test runs them).
pytestmark = pytest.mark.slow


def _containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        container["Name"]: container
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
        for container in resource["Properties"]["ContainerDefinitions"]
        if container["Name"] in {"api", "services", "worker"}
    }


def _environment(container: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container["Environment"]}


def _alarm_names(template: Template) -> set[str]:
    return {
        str(alarm["Properties"]["AlarmName"])
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }


def test_prods_redis_fails_over_to_a_replica_in_another_zone(prod_template: Template) -> None:
    # GIVEN prod (standard profile) WHEN synthesized THEN Redis has a primary and a replica, Multi-AZ
    prod_template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {"NumCacheClusters": 2, "AutomaticFailoverEnabled": True, "MultiAZEnabled": True},
    )


def test_prods_pools_are_sized_from_max_connections_at_8_acu(
    prod_template: Template, prod_config: Any
) -> None:
    # GIVEN prod's Aurora range (0.5-8 ACU): 1,669 connections by AWS's table
    limit = aurora_postgres_max_connections(prod_config.aurora.min_capacity, prod_config.aurora.max_capacity)
    assert limit == 1669
    containers = _containers(prod_template.to_json())
    # THEN the API replicas and the services task hold at most half of it together
    api = _environment(containers["api"])
    services = _environment(containers["services"])
    per_api = int(api["PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE"]) + int(
        api["PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW"]
    )
    per_services = int(services["PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE"]) + int(
        services["PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW"]
    )
    assert per_api * prod_config.prefect.server.max_capacity + per_services <= limit // 2
    assert api["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME"] == "prefect-api"
    assert services["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME"] == "prefect-services"


def test_prods_api_and_services_share_the_redis_cleanup_queue(prod_template: Template) -> None:
    containers = _containers(prod_template.to_json())
    for name in ("api", "services"):
        env = _environment(containers[name])
        assert env["PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE"] == "prefect_redis.cleanup_queue"
        assert "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_PASSWORD" in {
            s["Name"] for s in containers[name]["Secrets"]
        }


def test_prod_pages_on_redis_late_runs_and_database_connections(prod_template: Template) -> None:
    names = _alarm_names(prod_template)
    for key in (
        "pipelines-broker-memory",
        "pipelines-broker-evictions",
        "pipelines-broker-connections",
        "pipelines-broker-replication-lag",
        "pipelines-late-flow-runs",
        "database-connections",
    ):
        assert f"blog-prod-{key}" in names, key
    # AND the late-runs metric filter reads the Prefect log group
    prod_template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {"LogGroupName": {"Ref": "PrefectLogs"}, "FilterPattern": '"mark_flow_run_late"'},
    )
    # AND database connections page at 80 % of 1,669
    found = prod_template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "blog-prod-database-connections"}}
    )
    [alarm] = found.values()
    assert alarm["Properties"]["Threshold"] == 1335


def test_prod_under_lean_has_no_redis_alarms_and_waits_for_a_paused_database(
    lean_prod_template: dict[str, Any],
) -> None:
    # GIVEN prod under the lean profile: embedded, no Redis, Aurora may pause (0 ACU minimum)
    template = Template.from_json(lean_prod_template)
    names = _alarm_names(template)
    assert not [name for name in names if "broker" in name]
    assert any(name.endswith("pipelines-late-flow-runs") for name in names)
    env = _environment(_containers(lean_prod_template)["api"])
    assert float(env["PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT"]) > 30
    assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME"] == "prefect-server"
    assert "PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE" not in env
    template.resource_count_is("AWS::ElastiCache::ReplicationGroup", 0)
    template.has_resource_properties(
        "AWS::Logs::MetricFilter", {"FilterPattern": Match.string_like_regexp("late")}
    )


def test_local_keeps_a_single_redis_node(local_template: Template) -> None:
    local_template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup", {"NumCacheClusters": 1, "AutomaticFailoverEnabled": False}
    )
