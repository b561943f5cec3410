"""The lean profile brings prod's idle estimate under $150 a month, from prod's real synthesis."""

from __future__ import annotations

from typing import Any

import pytest

from blog_infra.cost import estimate, fargate_services, load_prices

BUDGET_USD = 150


@pytest.fixture(scope="module")
def lean_prod(lean_prod_template: dict[str, Any]) -> dict[str, Any]:
    return lean_prod_template


def of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == type_}


@pytest.mark.slow
def test_lean_prod_idles_under_budget_with_every_lean_setting_in_the_template(
    lean_prod: dict[str, Any],
) -> None:
    # GIVEN prod synthesized under the lean profile
    resources = lean_prod["Resources"]
    services = fargate_services(lean_prod)
    # THEN the template carries the lean settings: Spot, Graviton for Prefect, no Redis, no reader
    assert all(s.spot_tasks == s.tasks for s in services)
    assert any(s.arm for s in services)
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::ElastiCache::")]
    assert len([r for r in resources.values() if r["Type"] == "AWS::RDS::DBInstance"]) == 1
    # AND the estimate is under the budget
    total = estimate(lean_prod, load_prices()).total
    assert total < BUDGET_USD, f"lean prod idles at ${total:.2f} a month"


def test_lean_prod_runs_prefect_as_one_spot_api_task_with_its_worker(lean_prod: dict[str, Any]) -> None:
    services = of_type(lean_prod, "AWS::ECS::Service")
    # THEN the portal and one Prefect API service remain, both on Fargate Spot
    assert sorted(name.rstrip("0123456789ABCDEF") for name in services) == [
        "BackstageService",
        "PrefectApiService",
    ]
    for service in services.values():
        assert service["Properties"]["CapacityProviderStrategy"] == [
            {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
        ]
    [api] = [s for name, s in services.items() if name.startswith("PrefectApiService")]
    # AND the API still waits for the database bootstrap, and its one task runs the worker next to it
    assert any(d.startswith("DatabaseBootstrap") for d in api["DependsOn"])
    definition = lean_prod["Resources"][api["Properties"]["TaskDefinition"]["Ref"]]["Properties"]
    assert [c["Name"] for c in definition["ContainerDefinitions"]] == ["api", "worker"]
    assert definition["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert definition["TaskRoleArn"]["Fn::GetAtt"][0].startswith("RuntimeRolesPrefectWorkerTask")


def test_lean_prod_keeps_every_alarm_of_what_runs_and_drops_only_the_dashboard(
    lean_prod: dict[str, Any],
) -> None:
    assert of_type(lean_prod, "AWS::CloudWatch::Dashboard") == {}
    names = {a["Properties"]["AlarmName"] for a in of_type(lean_prod, "AWS::CloudWatch::Alarm").values()}
    # THEN the services that are gone have no alarms, and the ones that run keep theirs
    assert not {
        n for n in names if n.startswith(("blog-prod-pipelines-services", "blog-prod-pipelines-worker"))
    }
    assert {
        "blog-prod-pipelines-api-tasks-below-desired",
        "blog-prod-pipelines-api-memory",
        "blog-prod-portal-web-tasks-below-desired",
        "blog-prod-database-capacity-at-max",
        "blog-prod-edge-elb-5xx-rate",
    } <= names


def test_lean_prod_flow_runs_start_on_spot(lean_prod: dict[str, Any]) -> None:
    [variables] = [
        p["Properties"]["Value"]
        for p in of_type(lean_prod, "AWS::SSM::Parameter").values()
        if "work-pool-job-variables" in str(p["Properties"]["Name"])
    ]
    assert '"launch_type":"FARGATE_SPOT"' in "".join(
        v for v in variables["Fn::Join"][1] if isinstance(v, str)
    )
