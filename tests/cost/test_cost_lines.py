"""Every line of the bill for one template that holds every kind the model prices, compared whole
(component, quantity text, dollars, resources) with the reviewed estimate in cost_lines.json.

The prices are the round ones of conftest.py, so each figure can be checked by hand; regenerate the
file only after reviewing the difference: `python -m tests.cost.test_cost_lines`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blog_infra.cost import Price, PriceError, PriceTable, _plural, estimate, fargate_services, load_prices
from tests.cost.conftest import resource, service, task_definition, template

EXPECTED = Path(__file__).with_name("cost_lines.json")


def everything() -> dict[str, Any]:
    spot = [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    alarm_metrics = [
        {"Id": "a", "MetricStat": {"Period": 60}},
        {"Id": "b", "MetricStat": {"Period": 10}},
        {"Id": "e", "Expression": "a+b"},
    ]
    return template(
        Nat=resource("AWS::EC2::NatGateway"),
        Eip=resource("AWS::EC2::EIP"),
        Gateway=resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Gateway"),
        Interface=resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", SubnetIds=["a", "b", "c"]),
        Bare=resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface"),
        Cluster=resource(
            "AWS::RDS::DBCluster", ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 4}
        ),
        Writer=resource(
            "AWS::RDS::DBInstance", DBClusterIdentifier={"Ref": "Cluster"}, DBInstanceClass="db.serverless"
        ),
        Compute=resource(
            "AWS::ECS::Cluster", ClusterSettings=[{"Name": "containerInsights", "Value": "enabled"}]
        ),
        WebTask=task_definition(1024, 2048),
        ArmTask=task_definition(512, 1024, "ARM64")
        | {
            "Properties": task_definition(512, 1024, "ARM64")["Properties"]
            | {"EphemeralStorage": {"SizeInGiB": 50}}
        },
        Web=service("WebTask", DesiredCount=2),
        Arm=service(
            "ArmTask",
            DesiredCount=1,
            CapacityProviderStrategy=spot,
            NetworkConfiguration={"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}},
        ),
        WebScaling=resource(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=3,
            ResourceId={"Fn::Join": ["", ["service/", {"Fn::GetAtt": ["Web", "Name"]}]]},
        ),
        Alb=resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="application"),
        Nlb=resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="network"),
        Cdn=resource("AWS::CloudFront::Distribution"),
        Redis=resource(
            "AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.t4g.micro", NumCacheClusters=2
        ),
        Key=resource("AWS::KMS::Key"),
        Secret=resource("AWS::SecretsManager::Secret"),
        Logs=resource("AWS::Logs::LogGroup", RetentionInDays=90),
        FlowLog=resource("AWS::EC2::FlowLog"),
        S3FlowLog=resource("AWS::EC2::FlowLog", LogDestinationType="s3"),
        Alarm=resource("AWS::CloudWatch::Alarm", Period=300),
        FastAlarm=resource("AWS::CloudWatch::Alarm", Period=10),
        MathAlarm=resource("AWS::CloudWatch::Alarm", Metrics=alarm_metrics),
        Composite=resource("AWS::CloudWatch::CompositeAlarm"),
        Dashboard=resource("AWS::CloudWatch::Dashboard"),
        Bucket=resource("AWS::S3::Bucket"),
        Repository=resource("AWS::ECR::Repository"),
        Function=resource("AWS::Lambda::Function"),
        Namespace=resource("AWS::ServiceDiscovery::PrivateDnsNamespace"),
        Registration=resource("AWS::ServiceDiscovery::Service"),
        FlowRunPool=resource(
            "AWS::SSM::Parameter",
            Value=json.dumps({"capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT"}]}),
        ),
        Plural=resource("AWS::ECR::Repository"),
    )


def priced(prices: PriceTable) -> dict[str, Any]:
    return {
        "everything": estimate(everything(), prices).to_json(),
        "nothing": estimate(template(), prices).to_json(),
        "services": [vars(s) for s in fargate_services(everything())],
    }


def test_every_line_of_the_bill_is_as_reviewed(prices: PriceTable) -> None:
    assert priced(prices) == json.loads(EXPECTED.read_text(encoding="utf-8"))


def test_the_price_file_is_read_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[meta]\nregion = "eu-west-1"\ncurrency = "EUR"\nrecorded_on = "2026-01-02"\nstatus = "checked"\n'
        '[prices.nat_gateway_hour]\nusd = 0.05\nunit = "hour"\nsource = "https://a.test/"\n'
        'recorded_on = "2026-01-01"\n'
        '[assumptions.hours_per_month]\nvalue = 730\nunit = "h"\ndescription = "a month"\n',
        encoding="utf-8",
    )
    table = load_prices(path)
    assert (table.region, table.currency, table.recorded_on, table.status) == (
        "eu-west-1",
        "EUR",
        "2026-01-02",
        "checked",
    )
    assert vars(table.prices["nat_gateway_hour"]) == {
        "key": "nat_gateway_hour",
        "usd": 0.05,
        "unit": "hour",
        "source": "https://a.test/",
        "recorded_on": "2026-01-01",
    }
    assert vars(table.assumptions["hours_per_month"]) == {
        "key": "hours_per_month",
        "value": 730.0,
        "unit": "h",
        "description": "a month",
    }
    assert table.hours == 730.0
    changed = table.with_assumptions(hours_per_month=100)
    assert vars(changed.assumptions["hours_per_month"])["value"] == 100.0
    assert changed.assumptions["hours_per_month"].description == "a month"
    assert (changed.region, changed.currency, changed.prices) == (table.region, table.currency, table.prices)
    assert table.hours == 730.0


def test_a_price_file_without_meta_has_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text("", encoding="utf-8")
    table = load_prices(path)
    assert (table.region, table.currency, table.recorded_on, table.status) == ("us-east-1", "USD", "", "")
    assert dict(table.prices) == {} and dict(table.assumptions) == {}


if __name__ == "__main__":
    from tests.cost.conftest import prices as round_prices

    table = round_prices.__wrapped__()  # type: ignore[attr-defined]
    EXPECTED.write_text(json.dumps(priced(table), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED}")


def redis(prices: PriceTable, **resources: dict[str, Any]) -> dict[str, Any]:
    small = Price("elasticache:cache.t4g.small", 0.032, "hour", "https://example.test/", "2026-11-29")
    prices = PriceTable(
        prices.region,
        prices.currency,
        prices.recorded_on,
        prices.status,
        {**prices.prices, small.key: small},
        prices.assumptions,
    )
    (line,) = [
        c
        for c in estimate(template(**resources), prices).to_json()["components"]
        if "Redis" in c["component"]
    ]
    return dict(line)


def test_redis_counts_every_node_of_every_shape(prices: PriceTable) -> None:
    # GIVEN a cluster-mode group (2 shards x (1 primary + 1 replica)), a group of 3 clusters, a group
    # with defaults, and a single-node cache cluster of another node type
    line = redis(
        prices,
        Sharded=resource(
            "AWS::ElastiCache::ReplicationGroup",
            CacheNodeType="cache.t4g.micro",
            NumNodeGroups=2,
            ReplicasPerNodeGroup=1,
        ),
        Replicas=resource(
            "AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.t4g.micro", ReplicasPerNodeGroup=2
        ),
        Single=resource("AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.t4g.micro"),
        Cache=resource("AWS::ElastiCache::CacheCluster", CacheNodeType="cache.t4g.small", NumCacheNodes=2),
        Plain=resource("AWS::ElastiCache::CacheCluster", CacheNodeType="cache.t4g.small"),
    )
    # THEN 4 + 3 + 1 micro nodes and 3 small ones, each priced per hour: 8 x $0.016 + 3 x $0.032
    assert line["quantity"] == "8 x cache.t4g.micro, 3 x cache.t4g.small x 730 h"
    assert line["monthly_usd"] == round(730 * (8 * 0.016 + 3 * 0.032), 2)
    assert line["resources"] == ["Sharded", "Replicas", "Single", "Cache", "Plain"]


def test_redis_prices_each_node_type(prices: PriceTable) -> None:
    line = redis(
        prices,
        A=resource("AWS::ElastiCache::ReplicationGroup", CacheNodeType="cache.t4g.micro", NumCacheClusters=3),
        B=resource("AWS::ElastiCache::CacheCluster", CacheNodeType="cache.t4g.micro", NumCacheNodes=2),
    )
    # 5 nodes x 730 h x $0.016
    assert (line["quantity"], line["monthly_usd"]) == ("5 x cache.t4g.micro x 730 h", 58.4)


def test_serverless_redis_is_refused_rather_than_priced_at_zero(prices: PriceTable) -> None:
    with pytest.raises(PriceError, match="ElastiCache Serverless is not in the price table"):
        estimate(template(Cache=resource("AWS::ElastiCache::ServerlessCache")), prices)


@pytest.mark.parametrize(
    ("count", "word", "shown"),
    [
        (1, "address", "1 address"),
        (2, "address", "2 addresses"),
        (0, "box", "0 boxes"),
        (2, "branch", "2 branches"),
        (2, "crash", "2 crashes"),
        (3, "repository", "3 repositories"),
        (2, "key", "2 keys"),
        (2, "task", "2 tasks"),
        (1.5, "task", "1.5 tasks"),
    ],
)
def test_plurals(count: float, word: str, shown: str) -> None:
    assert _plural(count, word) == shown


def test_services_on_ec2_are_not_fargate_and_a_target_counts_only_its_service() -> None:
    t = template(
        Ec2Task=resource("AWS::ECS::TaskDefinition", RequiresCompatibilities=["EC2"]),
        OnEc2=service("Ec2Task", LaunchType="EC2"),
        Task=task_definition(256, 512),
        A=service("Task", DesiredCount=4),
        B=service("Task"),
        Other=resource(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=2,
            ResourceId={"Fn::Join": ["", [{"Ref": "A"}]]},
        ),
        NotEcs=resource(
            "AWS::ApplicationAutoScaling::ScalableTarget",
            ScalableDimension="dynamodb:table:ReadCapacityUnits",
            MinCapacity=9,
            ResourceId={"Ref": "B"},
        ),
    )
    services = {s.logical_id: s for s in fargate_services(t)}
    assert set(services) == {"A", "B"}
    assert (services["A"].tasks, services["B"].tasks) == (2, 1)
    assert (services["B"].vcpu, services["B"].memory_gb, services["B"].arm) == (0.25, 0.5, False)
