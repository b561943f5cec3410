"""Every line of the bill for one template that holds every kind the model prices, compared whole
(component, quantity text, dollars, resources) with the reviewed estimate in cost_lines.json.

The prices are the round ones of conftest.py, so each figure can be checked by hand; regenerate the
file only after reviewing the difference: `python -m tests.cost.test_cost_lines`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blog_infra.cost import PriceTable, estimate, fargate_services, load_prices
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
