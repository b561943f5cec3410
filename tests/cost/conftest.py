"""Hand-made templates and a price table with round numbers, so that every expected dollar is
arithmetic a reader can check."""

from __future__ import annotations

from typing import Any

import pytest

from blog_infra.cost import Assumption, Price, PriceTable

ROUND_PRICES = {
    "nat_gateway_hour": 0.05,
    "nat_gateway_gb": 0.05,
    "public_ipv4_hour": 0.005,
    "interface_endpoint_hour": 0.01,
    "aurora_acu_hour": 0.10,
    "aurora_iopt_acu_hour": 0.13,
    "aurora_storage_gb_month": 0.10,
    "aurora_iopt_storage_gb_month": 0.20,
    "aurora_io_million": 0.20,
    "fargate_x86_vcpu_hour": 0.04,
    "fargate_x86_gb_hour": 0.004,
    "fargate_arm_vcpu_hour": 0.032,
    "fargate_arm_gb_hour": 0.0032,
    "fargate_ephemeral_gb_hour": 0.0001,
    "alb_hour": 0.02,
    "alb_lcu_hour": 0.01,
    "nlb_hour": 0.02,
    "nlb_lcu_hour": 0.01,
    "cloudfront_https_10k_requests": 0.01,
    "cloudfront_gb": 0.10,
    "elasticache:cache.t4g.micro": 0.016,
    "kms_key_month": 1.0,
    "kms_10k_requests": 0.03,
    "secret_month": 0.40,
    "secrets_10k_api_calls": 0.05,
    "logs_ingest_gb": 0.50,
    "logs_storage_gb_month": 0.03,
    "metric_month": 0.30,
    "alarm_month": 0.10,
    "alarm_high_resolution_month": 0.30,
    "composite_alarm_month": 0.50,
    "dashboard_month": 3.0,
    "s3_standard_gb_month": 0.02,
    "ecr_storage_gb_month": 0.10,
    "lambda_million_requests": 0.20,
    "lambda_gb_second": 0.00001,
    "hosted_zone_month": 0.50,
    "cloud_map_instance_month": 0.10,
}
ROUND_ASSUMPTIONS = {
    "hours_per_month": 730,
    "aurora_idle_acu": 0.5,
    "aurora_paused_share": 0.5,
    "aurora_storage_gb": 10,
    "aurora_io_millions": 10,
    "fargate_spot_discount": 0.7,
    "flow_run_task_hours": 60,
    "flow_run_vcpu": 1,
    "flow_run_memory_gb": 2,
    "nat_data_gb": 100,
    "alb_lcu": 0.1,
    "cloudfront_requests_millions": 1,
    "cloudfront_data_gb": 10,
    "log_gb_per_task": 1,
    "flow_log_gb": 2,
    "container_insights_metrics_per_cluster": 12,
    "container_insights_metrics_per_service": 25,
    "container_insights_gb_per_task": 0.1,
    "kms_requests_10k": 20,
    "secrets_api_10k": 5,
    "s3_storage_gb": 100,
    "ecr_gb_per_repository": 5,
    "lambda_million_requests": 1,
    "lambda_gb_seconds": 1000,
}


@pytest.fixture
def prices() -> PriceTable:
    return PriceTable(
        region="us-east-1",
        currency="USD",
        recorded_on="2026-11-29",
        status="test prices",
        prices={
            k: Price(k, v, "unit", "https://example.test/", "2026-11-29") for k, v in ROUND_PRICES.items()
        },
        assumptions={k: Assumption(k, float(v), "unit", k) for k, v in ROUND_ASSUMPTIONS.items()},
    )


def resource(type_: str, **properties: Any) -> dict[str, Any]:
    return {"Type": type_, "Properties": properties}


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def service(task_definition: str, **properties: Any) -> dict[str, Any]:
    return resource("AWS::ECS::Service", TaskDefinition={"Ref": task_definition}, **properties)


def task_definition(cpu: int, memory: int, architecture: str = "X86_64") -> dict[str, Any]:
    return resource(
        "AWS::ECS::TaskDefinition",
        Cpu=str(cpu),
        Memory=str(memory),
        RequiresCompatibilities=["FARGATE"],
        RuntimePlatform={"CpuArchitecture": architecture, "OperatingSystemFamily": "LINUX"},
    )
