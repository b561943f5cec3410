"""The cost model's arithmetic: hand-made templates with known counts give exact dollars."""

from __future__ import annotations

from typing import Any

import pytest

from blog_infra.cost import PriceError, PriceTable, compare, estimate, fargate_services, load_prices
from tests.cost.conftest import resource, service, task_definition, template


def line(template_: dict[str, Any], prices: PriceTable, component: str) -> float:
    return estimate(template_, prices).by_component()[component].monthly_usd


def aurora(min_capacity: float, instances: int, **cluster: Any) -> dict[str, Any]:
    members = {
        f"Instance{n}": resource(
            "AWS::RDS::DBInstance", DBClusterIdentifier={"Ref": "Cluster"}, DBInstanceClass="db.serverless"
        )
        for n in range(instances)
    }
    return template(
        Cluster=resource(
            "AWS::RDS::DBCluster",
            ServerlessV2ScalingConfiguration={"MinCapacity": min_capacity, "MaxCapacity": 4},
            **cluster,
        ),
        Provisioned=resource(
            "AWS::RDS::DBInstance", DBClusterIdentifier={"Ref": "Other"}, DBInstanceClass="db.t4g.medium"
        ),
        **members,
    )


def test_nat_gateways_are_priced_per_hour_and_per_gb(prices: PriceTable) -> None:
    # GIVEN two NAT gateways and their two Elastic IPs
    t = template(
        Nat1=resource("AWS::EC2::NatGateway"),
        Nat2=resource("AWS::EC2::NatGateway"),
        Eip1=resource("AWS::EC2::EIP"),
        Eip2=resource("AWS::EC2::EIP"),
    )
    # WHEN priced THEN 2 x 730 h x $0.05 + 100 GB x $0.05, and 2 addresses x 730 h x $0.005
    assert line(t, prices, "NAT gateways") == 78.00
    assert line(t, prices, "Public IPv4 addresses") == 7.30


def test_interface_endpoints_cost_per_az_and_gateway_endpoints_are_free(prices: PriceTable) -> None:
    t = template(
        S3=resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Gateway"),
        Logs=resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", SubnetIds=["a", "b"]),
    )
    # 2 AZ-endpoints x 730 h x $0.01
    assert line(t, prices, "VPC endpoints") == 14.60


@pytest.mark.parametrize(
    ("min_capacity", "instances", "cluster", "expected"),
    [
        # writer + reader at the 0.5 ACU floor: 2 x 0.5 x 730 x $0.10 + 10 GB x $0.10 + 10M I/O x $0.20
        (0.5, 2, {}, 76.00),
        # a floor above the idle assumption counts as it is: 2 ACU x 730 x $0.10 + $3
        (2, 1, {}, 149.00),
        # a 0 ACU floor may pause: 0.5 ACU x (1 - 0.5 paused) x 730 x $0.10 + $3
        (0, 1, {}, 21.25),
        # I/O-Optimized: 0.5 x 730 x $0.13 + 10 GB x $0.20, no I/O charge
        (0.5, 1, {"StorageType": "aurora-iopt1"}, 49.45),
    ],
)
def test_aurora_serverless_counts_its_instances_at_their_floor(
    prices: PriceTable, min_capacity: float, instances: int, cluster: dict[str, Any], expected: float
) -> None:
    result = estimate(aurora(min_capacity, instances, **cluster), prices).by_component()[
        "Aurora Serverless v2"
    ]
    assert result.monthly_usd == expected
    assert "Provisioned" not in result.resources


def test_fargate_services_run_at_their_autoscaling_floor(prices: PriceTable) -> None:
    # GIVEN a service that deploys 2 tasks but scales down to 1
    t = template(
        ApiTask=task_definition(1024, 2048),
        Api=service("ApiTask", DesiredCount=2, LaunchType="FARGATE"),
        ApiTarget=resource(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            MinCapacity=1,
            MaxCapacity=4,
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId={
                "Fn::Join": ["", ["service/", {"Ref": "Cluster"}, "/", {"Fn::GetAtt": ["Api", "Name"]}]]
            },
        ),
    )
    # WHEN priced THEN one task: (1 vCPU x $0.04 + 2 GB x $0.004) x 730
    assert line(t, prices, "Fargate: Api") == 35.04


def test_graviton_and_spot_are_discounted(prices: PriceTable) -> None:
    t = template(
        WorkerTask=task_definition(512, 1024, "ARM64"),
        Worker=service(
            "WorkerTask",
            DesiredCount=1,
            CapacityProviderStrategy=[{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
        ),
    )
    # (0.5 x $0.032 + 1 x $0.0032) x 730 x (1 - 0.7)
    assert line(t, prices, "Fargate: Worker") == 4.20


def test_a_mixed_capacity_strategy_places_the_base_first_then_by_weight(prices: PriceTable) -> None:
    t = template(
        Task=task_definition(1024, 2048),
        Mixed=service(
            "Task",
            DesiredCount=3,
            CapacityProviderStrategy=[
                {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1},
                {"CapacityProvider": "FARGATE_SPOT", "Weight": 1},
            ],
        ),
    )
    (found,) = fargate_services(t)
    assert found.spot_tasks == 1
    # (2 on-demand + 1 x 0.3 on Spot) x $0.048 x 730
    assert line(t, prices, "Fargate: Mixed") == 80.59


def test_ephemeral_storage_above_20_gb_and_stopped_services(prices: PriceTable) -> None:
    big = task_definition(256, 512)
    big["Properties"]["EphemeralStorage"] = {"SizeInGiB": 30}
    t = template(BigTask=big, Big=service("BigTask", DesiredCount=1), Idle=service("BigTask", DesiredCount=0))
    # (0.25 x $0.04 + 0.5 x $0.004 + 10 GB x $0.0001) x 730
    assert line(t, prices, "Fargate: Big") == 9.49
    assert line(t, prices, "Fargate: Idle") == 0.0


@pytest.mark.parametrize(("launch_type", "expected"), [("FARGATE", 2.88), ("FARGATE_SPOT", 0.86)])
def test_flow_runs_follow_the_work_pool_launch_type(
    prices: PriceTable, launch_type: str, expected: float
) -> None:
    t = template(
        JobVariables=resource(
            "AWS::SSM::Parameter", Value=f'{{"launch_type": "{launch_type}", "cluster": "c"}}'
        )
    )
    # 60 task-hours x (1 vCPU x $0.04 + 2 GB x $0.004), x 0.3 on Spot
    assert line(t, prices, "Fargate: flow runs") == expected
    assert line(template(), prices, "Fargate: flow runs") == 0.0


def test_load_balancers_cloudfront_and_redis(prices: PriceTable) -> None:
    t = template(
        Alb=resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Scheme="internal"),
        Nlb=resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="network"),
        Cdn=resource("AWS::CloudFront::Distribution"),
        Redis=resource(
            "AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.t4g.micro", NumCacheClusters=2
        ),
    )
    result = estimate(t, prices).by_component()
    # 730 x ($0.02 + 0.1 LCU x $0.01)
    assert result["Application Load Balancer"].monthly_usd == 15.33
    assert result["Network Load Balancer"].monthly_usd == 15.33
    # 1M requests = 100 x 10k x $0.01, + 10 GB x $0.10
    assert result["CloudFront"].monthly_usd == 2.00
    # 2 nodes x 730 x $0.016
    assert result["ElastiCache (Redis)"].monthly_usd == 23.36


def test_keys_and_secrets_include_the_rds_managed_master_secret(prices: PriceTable) -> None:
    t = template(
        Key1=resource("AWS::KMS::Key"),
        Key2=resource("AWS::KMS::Key"),
        S1=resource("AWS::SecretsManager::Secret"),
        S2=resource("AWS::SecretsManager::Secret"),
        S3=resource("AWS::SecretsManager::Secret"),
        Db=resource("AWS::RDS::DBCluster", ManageMasterUserPassword=True),
    )
    result = estimate(t, prices).by_component()
    # 2 x $1 + 200k requests x $0.03 / 10k
    assert result["KMS keys"].monthly_usd == 2.60
    # 4 x $0.40 + 50k calls x $0.05 / 10k
    assert result["Secrets Manager"].monthly_usd == 1.85
    assert "Db" in result["Secrets Manager"].resources


def test_monitoring_counts_logs_alarms_dashboards_and_container_insights(prices: PriceTable) -> None:
    t = template(
        Cluster=resource(
            "AWS::ECS::Cluster", ClusterSettings=[{"Name": "containerInsights", "Value": "enabled"}]
        ),
        Task=task_definition(256, 512),
        A=service("Task", DesiredCount=1),
        B=service("Task", DesiredCount=1),
        Flow=resource("AWS::EC2::FlowLog"),
        Logs=resource("AWS::Logs::LogGroup", RetentionInDays=30),
        **{f"Alarm{n}": resource("AWS::CloudWatch::Alarm") for n in range(10)},
        Composite=resource("AWS::CloudWatch::CompositeAlarm"),
        Board=resource("AWS::CloudWatch::Dashboard"),
    )
    result = estimate(t, prices).by_component()
    # 2 tasks x 1 GB + 1 flow log x 2 GB = 4 GB x $0.50, + 4 GB x 30/30.4 months kept x $0.03
    assert result["CloudWatch Logs"].monthly_usd == 2.12
    # 10 x $0.10 + $0.50 + $3
    assert result["CloudWatch alarms and dashboards"].monthly_usd == 4.50
    # (12 + 2 x 25) metrics x $0.30 + 2 tasks x 0.1 GB x $0.50
    assert result["Container Insights"].monthly_usd == 18.70


def test_an_alarm_pays_for_each_metric_it_reads(prices: PriceTable) -> None:
    def query(id_: str, period: int | None = None) -> dict[str, Any]:
        if period is None:
            return {"Id": id_, "Expression": "errors / requests"}
        return {"Id": id_, "MetricStat": {"Metric": {"MetricName": id_}, "Period": period, "Stat": "Sum"}}

    t = template(
        Plain=resource("AWS::CloudWatch::Alarm", MetricName="Errors", Period=300),
        Math=resource(
            "AWS::CloudWatch::Alarm", Metrics=[query("rate"), query("errors", 60), query("requests", 60)]
        ),
        Fast=resource("AWS::CloudWatch::Alarm", Metrics=[query("m1", 10)]),
    )
    # 3 standard metrics x $0.10 (the expression is free) + 1 high-resolution metric x $0.30
    assert line(t, prices, "CloudWatch alarms and dashboards") == 0.60


def test_storage_functions_and_dns(prices: PriceTable) -> None:
    t = template(
        B1=resource("AWS::S3::Bucket"),
        B2=resource("AWS::S3::Bucket"),
        R1=resource("AWS::ECR::Repository"),
        R2=resource("AWS::ECR::Repository"),
        Fn=resource("AWS::Lambda::Function"),
        Ns=resource("AWS::ServiceDiscovery::PrivateDnsNamespace"),
        Zone=resource("AWS::Route53::HostedZone"),
        Sd1=resource("AWS::ServiceDiscovery::Service"),
        Sd2=resource("AWS::ServiceDiscovery::Service"),
    )
    result = estimate(t, prices).by_component()
    assert result["S3 storage"].monthly_usd == 2.00  # 100 GB x $0.02
    assert result["ECR storage"].monthly_usd == 1.00  # 2 x 5 GB x $0.10
    assert result["Lambda"].monthly_usd == 0.21  # 1M x $0.20 + 1000 GB-s x $0.00001
    assert result["DNS zones and Cloud Map"].monthly_usd == 1.20  # 2 x $0.50 + 2 x $0.10


def test_an_empty_template_costs_nothing_and_keeps_every_line(prices: PriceTable) -> None:
    result = estimate(template(), prices)
    assert result.total == 0.0
    assert {"NAT gateways", "Aurora Serverless v2", "Container Insights", "KMS keys"} <= set(
        result.by_component()
    )


def test_the_total_is_the_sum_of_the_lines_and_a_comparison_shows_each_change(prices: PriceTable) -> None:
    before = template(Nat=resource("AWS::EC2::NatGateway"), Key=resource("AWS::KMS::Key"))
    after = template(Key=resource("AWS::KMS::Key"), Key2=resource("AWS::KMS::Key"))
    old, new = estimate(before, prices), estimate(after, prices)
    assert old.total == round(sum(item.monthly_usd for item in old.lines), 2)
    result = compare(old, new)
    changes = {d.component: d.change for d in result.deltas if d.change}
    # the NAT gateway goes (-730 x $0.05 - 100 GB x $0.05), one key more
    assert changes == {"NAT gateways": -41.50, "KMS keys": 1.00}
    assert result.change == round(new.total - old.total, 2)


def test_an_unpriced_node_type_is_an_error_not_a_silent_zero(prices: PriceTable) -> None:
    t = template(Redis=resource("AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.r7g.24xlarge"))
    with pytest.raises(PriceError, match=r"elasticache:cache\.r7g\.24xlarge"):
        estimate(t, prices)


def test_the_shipped_price_table_names_a_source_and_a_date_for_every_price() -> None:
    table = load_prices()
    assert table.region == "us-east-1" and table.recorded_on
    for price in table.prices.values():
        assert price.source.startswith("https://aws.amazon.com/"), price.key
        assert price.recorded_on and price.usd > 0, price.key
    assert table.assume("hours_per_month") == 730
    # one NAT gateway at the shipped prices: 730 h x $0.045 + 20 GB x $0.045
    assert line(template(Nat=resource("AWS::EC2::NatGateway")), table, "NAT gateways") == 33.75
