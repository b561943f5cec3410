"""core/observability: an encrypted TLS-only alerts topic, alarms that each say what to check first, and a
dashboard with one row per surface."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pytest
from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from infra.app import new_app
from infra.modules.core.observability.construct import (
    AlarmThresholds,
    AppSurface,
    LambdaWithQueue,
    Observability,
    ObservabilityProps,
)
from infra.modules.core.observability.runbook import runbook_markdown
from tests.unit.helpers import new_stack

README = "infra/modules/core/observability/README.md"
THRESHOLDS = AlarmThresholds(
    alb_5xx_percent=7.5,
    min_requests=50,
    aurora_capacity_fraction=0.75,
    aurora_connections_percent=50.0,
    aurora_freeable_memory_mib=512,
    ecs_cpu_percent=91.0,
    cloudfront_5xx_percent=3.0,
    evaluation_periods=4,
    datapoints_to_alarm=3,
    period=Duration.minutes(1),
)
EXPECTED_ALARMS = {
    "edge-cloudfront-5xx-rate",
    "edge-elb-5xx-rate",
    "portal-web-tasks-below-desired",
    "portal-web-cpu",
    "portal-web-memory",
    "portal-web-5xx-rate",
    "portal-web-unhealthy-hosts",
    "pipelines-api-tasks-below-desired",
    "pipelines-api-cpu",
    "pipelines-api-memory",
    "pipelines-worker-tasks-below-desired",
    "pipelines-worker-cpu",
    "pipelines-worker-memory",
    "pipelines-api-5xx-rate",
    "pipelines-api-unhealthy-hosts",
    "database-cpu",
    "database-capacity-at-max",
    "database-connections",
    "database-freeable-memory",
    "ork-processor-errors",
    "ork-processor-throttles",
    "ork-processor-failures-queued",
}


class _Platform:
    """A small stand-in of the platform: ALB with two target groups, three services, Aurora, a Lambda."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
        self.load_balancer = elbv2.ApplicationLoadBalancer(stack, "Alb", vpc=self.vpc)
        listener = self.load_balancer.add_listener("Http", port=80, open=False)
        self.cluster = ecs.Cluster(stack, "Cluster", vpc=self.vpc)
        self.portal = self._service("Portal")
        self.api = self._service("Api")
        self.worker = self._service("Worker")
        self.portal_tg = listener.add_targets("PortalTg", port=80, targets=[self.portal])
        self.api_tg = elbv2.ApplicationTargetGroup(
            stack, "ApiTg", vpc=self.vpc, port=80, targets=[self.api], target_type=elbv2.TargetType.IP
        )
        listener.add_action(
            "Api",
            priority=10,
            conditions=[elbv2.ListenerCondition.host_headers(["pipelines.example.org"])],
            action=elbv2.ListenerAction.forward([self.api_tg]),
        )
        self.database = rds.DatabaseCluster(
            stack,
            "Db",
            engine=rds.DatabaseClusterEngine.aurora_postgres(
                version=rds.AuroraPostgresEngineVersion.VER_16_6
            ),
            writer=rds.ClusterInstance.serverless_v2("Writer"),
            serverless_v2_max_capacity=4,
            vpc=self.vpc,
        )
        self.function = lambda_.Function(
            stack,
            "Fn",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
        )
        self.queue = sqs.Queue(stack, "Failures")
        self.distribution = cloudfront.Distribution(
            stack,
            "Cdn",
            default_behavior=cloudfront.BehaviorOptions(origin=origins.HttpOrigin("origin.example.org")),
        )

    def _service(self, name: str) -> ecs.FargateService:
        task = ecs.FargateTaskDefinition(self.stack, f"{name}Task")
        task.add_container(
            "app",
            image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27"),
            port_mappings=[ecs.PortMapping(container_port=80)],
        )
        return ecs.FargateService(self.stack, f"{name}Service", cluster=self.cluster, task_definition=task)

    def props(self, **changes: Any) -> ObservabilityProps:
        values: dict[str, Any] = {
            "name_prefix": "blog-test",
            "subscriptions": ("oncall@example.org", "https://hooks.example.org/alerts"),
            "thresholds": THRESHOLDS,
            "load_balancer": self.load_balancer,
            "distribution": self.distribution,
            "apps": (
                AppSurface(
                    name="portal", services=(("web", self.portal),), target_groups=(("web", self.portal_tg),)
                ),
                AppSurface(
                    name="pipelines",
                    services=(("api", self.api), ("worker", self.worker)),
                    target_groups=(("api", self.api_tg),),
                ),
            ),
            "database": self.database,
            "database_max_capacity": 4.0,
            "database_max_connections": 823,
            "ork_processor": LambdaWithQueue(self.function, self.queue),
        } | changes
        return ObservabilityProps(**values)


@pytest.fixture(scope="module")
def built() -> tuple[Template, Observability]:
    platform = _Platform(new_stack())
    module = Observability(platform.stack, "Observability", props=platform.props())
    return Template.from_stack(platform.stack), module


@pytest.fixture(scope="module")
def template(built: tuple[Template, Observability]) -> Template:
    return built[0]


@pytest.fixture(scope="module")
def module(built: tuple[Template, Observability]) -> Observability:
    return built[1]


@pytest.fixture(scope="module")
def alarms(template: Template) -> dict[str, dict[str, Any]]:
    found = template.find_resources("AWS::CloudWatch::Alarm")
    return {
        str(a["Properties"]["AlarmName"]).removeprefix("blog-test-"): a["Properties"] for a in found.values()
    }


def _dashboard_body(template: Template) -> list[dict[str, Any]]:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "TOKEN" for part in parts)
    widgets: list[dict[str, Any]] = json.loads(text)["widgets"]
    return widgets


# --- the topic and its key --------------------------------------------------------------------------


def test_topic_is_encrypted_with_the_pinned_retained_customer_key(template: Template) -> None:
    # GIVEN the module WHEN synthesized THEN the topic uses its own rotated key, kept when removed
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"TopicName": "blog-test-alerts", "KmsMasterKeyId": {"Fn::GetAtt": ["AlertsKey", "Arn"]}},
    )
    key = template.find_resources("AWS::KMS::Key")["AlertsKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "RetainExceptOnCreate" and key["UpdateReplacePolicy"] == "Retain"
    assert "AlertsTopic" in template.find_resources("AWS::SNS::Topic")


def test_only_cloudwatch_alarms_of_this_stack_may_use_the_key(template: Template) -> None:
    statements = template.find_resources("AWS::KMS::Key")["AlertsKey"]["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s.get("Sid") == "CloudWatchAlarmsOfThisStack"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    source_arn = json.dumps(cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":alarm:blog-test-*" in source_arn
    # AND grants can only be made by AWS services for AWS resources
    assert any(s.get("Sid") == "DenyGrantsExceptForAwsServices" for s in statements)


def test_topic_policy_denies_plain_http_and_admits_the_alarms(template: Template) -> None:
    (policy,) = template.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny[0]["Principal"] in ("*", {"AWS": "*"})
    (allow,) = [s for s in statements if s.get("Sid") == "CloudWatchAlarmsOfThisStack"]
    assert allow["Action"] == "sns:Publish"
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_subscriptions_come_from_props(template: Template) -> None:
    template.resource_count_is("AWS::SNS::Subscription", 2)
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.org"}
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "https", "Endpoint": "https://hooks.example.org/alerts"}
    )


# --- the alarms -------------------------------------------------------------------------------------


def test_every_surface_has_its_alarms(alarms: dict[str, dict[str, Any]]) -> None:
    assert set(alarms) == EXPECTED_ALARMS


def test_every_alarm_says_what_to_check_first_and_notifies_on_alarm_and_ok(
    alarms: dict[str, dict[str, Any]],
) -> None:
    for name, alarm in alarms.items():
        assert re.search(r"\. Check first: \S.{20,}", alarm["AlarmDescription"]), name
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlertsTopic"}], name
        assert alarm["TreatMissingData"] in {"notBreaching", "breaching"}, name


def test_missing_data_is_chosen_per_alarm(alarms: dict[str, dict[str, Any]]) -> None:
    # THEN only a silent Container Insights counts as breaching: the service or the reporting is gone
    breaching = {name for name, alarm in alarms.items() if alarm["TreatMissingData"] == "breaching"}
    assert breaching == {name for name in EXPECTED_ALARMS if name.endswith("tasks-below-desired")}


def test_thresholds_and_evaluation_come_from_props(alarms: dict[str, dict[str, Any]]) -> None:
    assert alarms["edge-elb-5xx-rate"]["Threshold"] == 7.5
    assert alarms["edge-cloudfront-5xx-rate"]["Threshold"] == 3
    assert alarms["portal-web-cpu"]["Threshold"] == 91
    # AND the connections alarm is the given share of the cluster's max_connections (823 at 4 ACU)
    assert alarms["database-connections"]["Threshold"] == 411
    assert alarms["database-freeable-memory"]["Threshold"] == 512 * 1024 * 1024
    assert alarms["database-freeable-memory"]["ComparisonOperator"] == "LessThanThreshold"
    # AND capacity at max compares with the given fraction of the maximum ACU
    assert alarms["database-capacity-at-max"]["Threshold"] == 3
    assert alarms["database-capacity-at-max"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    sustained = alarms["portal-web-memory"]
    period = sustained.get("Period") or sustained["Metrics"][0]["MetricStat"]["Period"]
    assert (sustained["EvaluationPeriods"], sustained["DatapointsToAlarm"], period) == (4, 3, 60)
    single = alarms["ork-processor-errors"]
    assert (single["EvaluationPeriods"], single["DatapointsToAlarm"]) == (1, 1)


def test_error_rates_ignore_quiet_periods(alarms: dict[str, dict[str, Any]]) -> None:
    expression = next(m for m in alarms["edge-elb-5xx-rate"]["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "IF(requests >= 50, 100 * FILL(errors, 0) / requests, 0)"
    names = {
        m["MetricStat"]["Metric"]["MetricName"]
        for m in alarms["edge-elb-5xx-rate"]["Metrics"]
        if "MetricStat" in m
    }
    assert names == {"HTTPCode_ELB_5XX_Count", "RequestCount"}
    target = {
        m["MetricStat"]["Metric"]["MetricName"]
        for m in alarms["portal-web-5xx-rate"]["Metrics"]
        if "MetricStat" in m
    }
    assert target == {"HTTPCode_Target_5XX_Count", "RequestCount"}


def test_running_tasks_compare_container_insights_counts(alarms: dict[str, dict[str, Any]]) -> None:
    metrics = alarms["pipelines-worker-tasks-below-desired"]["Metrics"]
    assert next(m for m in metrics if "Expression" in m)["Expression"] == "desired - running"
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in metrics if "MetricStat" in m}
    assert stats["desired"]["MetricName"] == "DesiredTaskCount"
    assert stats["running"]["MetricName"] == "RunningTaskCount"
    assert {s["Namespace"] for s in stats.values()} == {"ECS/ContainerInsights"}
    assert {d["Name"] for d in stats["running"]["Dimensions"]} == {"ClusterName", "ServiceName"}


def test_cloudfront_alarm_reads_the_global_metric(alarms: dict[str, dict[str, Any]]) -> None:
    stats = [
        m["MetricStat"]["Metric"] for m in alarms["edge-cloudfront-5xx-rate"]["Metrics"] if "MetricStat" in m
    ]
    assert {s["Namespace"] for s in stats} == {"AWS/CloudFront"}
    assert {s["MetricName"] for s in stats} == {"5xxErrorRate", "Requests"}
    for stat in stats:
        assert {"Name": "Region", "Value": "Global"} in stat["Dimensions"]


def test_lambda_and_queue_alarms_read_their_metrics(alarms: dict[str, dict[str, Any]]) -> None:
    assert alarms["ork-processor-errors"]["MetricName"] == "Errors"
    assert alarms["ork-processor-throttles"]["MetricName"] == "Throttles"
    queue = alarms["ork-processor-failures-queued"]
    assert (queue["Namespace"], queue["MetricName"], queue["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )


def test_records_match_the_alarms(module: Observability, alarms: dict[str, dict[str, Any]]) -> None:
    records = {record.key: record for record in module.alarms}
    assert set(records) == set(alarms)
    for key, record in records.items():
        assert record.name == f"blog-test-{key}"
        assert alarms[key]["AlarmDescription"] == record.description
        assert record.metric and record.threshold and record.missing_data
    assert records["edge-elb-5xx-rate"].threshold == "> 7.5 % in 3 of 4 periods of 1 min"
    assert set(module.cloudwatch_alarms) == set(records)


# --- the dashboard ----------------------------------------------------------------------------------


def test_dashboard_has_one_row_per_surface(template: Template) -> None:
    widgets = _dashboard_body(template)
    headers = [w for w in widgets if w["type"] == "text"]
    titles = [w["properties"]["markdown"].splitlines()[0] for w in headers]
    assert titles == ["## Edge", "## Portal", "## Pipelines", "## Database", "## Ork processor"]
    rows = sorted({w["y"] for w in widgets})
    assert rows == sorted(h["y"] for h in headers)
    for y in rows:
        row = [w for w in widgets if w["y"] == y]
        # THEN each row is its header, its alarms' states and its graphs, within the 24 columns
        assert [w["type"] for w in row[:2]] == ["text", "alarm"]
        assert all(w["type"] == "metric" for w in row[2:]) and len(row) > 2
        assert sum(w["width"] for w in row) <= 24


def test_dashboard_shows_cloudfront_in_us_east_1(template: Template) -> None:
    widgets = _dashboard_body(template)
    cloudfront_graph = next(w for w in widgets if w["properties"].get("title") == "CloudFront 5xx %")
    assert "us-east-1" in json.dumps(cloudfront_graph)


def test_without_the_dashboard_every_alarm_and_notification_stays(module: Observability) -> None:
    # GIVEN the same platform watched with dashboard=False
    platform = _Platform(new_stack())
    bare = Observability(platform.stack, "Observability", props=platform.props(dashboard=False))
    template = Template.from_stack(platform.stack)
    # THEN there is no dashboard, and the same alarms notify the same topic on alarm and on recovery
    template.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    assert bare.dashboard is None
    assert [record.name for record in bare.alarms] == [record.name for record in module.alarms]
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    assert len(alarms) == len(module.alarms)
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlertsTopic"}]


def test_the_dashboard_is_there_by_default(template: Template, module: Observability) -> None:
    template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "blog-test"})
    assert module.dashboard is not None


# --- outside us-east-1 ------------------------------------------------------------------------------


def test_outside_us_east_1_cloudfront_is_graphed_not_alarmed() -> None:
    # GIVEN a stack in eu-west-1 WHEN the module watches a distribution
    stack = Stack(new_app(), "Eu", env=Environment(account="123456789012", region="eu-west-1"))
    distribution = cloudfront.Distribution.from_distribution_attributes(
        stack, "Cdn", distribution_id="E2EXAMPLE", domain_name="d111.cloudfront.net"
    )
    module = Observability(
        stack, "Observability", props=ObservabilityProps(name_prefix="eu", distribution=distribution)
    )
    # THEN no alarm can read the us-east-1 metric, and the dashboard still shows it
    assert module.alarms == []
    Template.from_stack(stack).resource_count_is("AWS::CloudWatch::Alarm", 0)


# --- validation -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch() -> _Inputs:
    return _Inputs()


class _Inputs:
    def __init__(self) -> None:
        self.stack = new_stack()
        self.cluster = rds.DatabaseCluster.from_database_cluster_attributes(
            self.stack, "Db", cluster_identifier="db"
        )
        self.distribution = cloudfront.Distribution.from_distribution_attributes(
            self.stack, "Cdn", distribution_id="E2EXAMPLE", domain_name="d111.cloudfront.net"
        )
        self.count = 0

    def build(self, **values: Any) -> None:
        self.count += 1
        props = ObservabilityProps(
            **({"name_prefix": "blog-test", "distribution": self.distribution} | values)
        )
        Observability(self.stack, f"O{self.count}", props=props)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name_prefix": "blog_prod"}, "name_prefix 'blog_prod' must be letters, digits and '-'"),
        ({"subscriptions": ("http://hooks.example.org",)}, "must be an e-mail address or an https:// URL"),
        ({"subscriptions": ("a@example.org", "a@example.org")}, "subscriptions must be distinct"),
        ({"database_max_capacity": 4.0}, "database and database_max_capacity go together"),
        ({"distribution": None}, "nothing to watch"),
        ({"thresholds": AlarmThresholds(period=Duration.seconds(90))}, "period must be whole minutes"),
        (
            {"thresholds": AlarmThresholds(datapoints_to_alarm=4)},
            r"datapoints_to_alarm \(4\) must be between 1",
        ),
        ({"thresholds": AlarmThresholds(alb_5xx_percent=0)}, "alb_5xx_percent .* must be a percentage"),
        ({"thresholds": AlarmThresholds(aurora_capacity_fraction=1.5)}, "aurora_capacity_fraction"),
        ({"thresholds": AlarmThresholds(lambda_errors=0)}, r"lambda_errors \(0\) must be at least 1"),
        (
            {
                "thresholds": AlarmThresholds(
                    period=Duration.hours(12), evaluation_periods=3, datapoints_to_alarm=1
                )
            },
            "must not exceed one day",
        ),
    ],
    ids=lambda v: str(v)[:40] if isinstance(v, str) else None,
)
def test_invalid_props_are_refused(scratch: _Inputs, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scratch.build(**values)


def test_database_needs_a_positive_max_capacity(scratch: _Inputs) -> None:
    with pytest.raises(ValueError, match="database and database_max_capacity go together"):
        scratch.build(database=scratch.cluster)
    with pytest.raises(ValueError, match="must be a positive ACU count"):
        scratch.build(database=scratch.cluster, database_max_capacity=0.0)


def test_app_names_are_checked(scratch: _Inputs) -> None:
    vpc = ec2.Vpc.from_vpc_attributes(
        scratch.stack, "Vpc", vpc_id="vpc-1", availability_zones=["us-east-1a"], private_subnet_ids=["s-1"]
    )
    cluster = ecs.Cluster(scratch.stack, "Cluster", vpc=vpc)
    task = ecs.FargateTaskDefinition(scratch.stack, "Task")
    task.add_container("app", image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27"))
    service = ecs.FargateService(scratch.stack, "Service", cluster=cluster, task_definition=task)
    with pytest.raises(ValueError, match="app name 'Portal' must be lowercase"):
        scratch.build(apps=(AppSurface(name="Portal", services=(("web", service),)),))
    with pytest.raises(ValueError, match="needs at least one"):
        scratch.build(apps=(AppSurface(name="portal", services=()),))
    with pytest.raises(ValueError, match="names a service twice"):
        scratch.build(apps=(AppSurface(name="portal", services=(("web", service), ("web", service))),))
    with pytest.raises(ValueError, match="must be distinct and not"):
        scratch.build(apps=(AppSurface(name="database", services=(("web", service),)),))


# --- docs -------------------------------------------------------------------------------------------


def test_readme_documents_every_threshold_with_its_default() -> None:
    from blog_infra.paths import REPO_ROOT

    text = (REPO_ROOT / README).read_text(encoding="utf-8")
    defaults = AlarmThresholds()
    for item in fields(AlarmThresholds):
        value = getattr(defaults, item.name)
        shown = "`Duration.minutes(5)`" if item.name == "period" else f"`{value}`"
        assert f"| `{item.name}` | {shown} |" in text, item.name


def test_runbook_lists_every_alarm_with_what_to_check_first(module: Observability) -> None:
    text = runbook_markdown(module.alarms, environment="test")
    for record in module.alarms:
        assert f"### {record.name}\n" in text
        assert f"- **Check first:** {record.check_first}\n" in text
        assert f"| [`{record.name}`](#{record.name}) |" in text
    assert text.index("## Edge") < text.index("## Portal") < text.index("## Database")
    with pytest.raises(ValueError, match="at least one"):
        runbook_markdown([])


def test_removal_policy_reaches_the_key() -> None:
    stack = new_stack()
    distribution = cloudfront.Distribution.from_distribution_attributes(
        stack, "Cdn", distribution_id="E2EXAMPLE", domain_name="d111.cloudfront.net"
    )
    Observability(
        stack,
        "Observability",
        props=ObservabilityProps(
            name_prefix="x", distribution=distribution, removal_policy=RemovalPolicy.DESTROY
        ),
    )
    Template.from_stack(stack).has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete"})


def test_a_failed_login_rotation_step_alarms_the_topic() -> None:
    from aws_cdk import aws_lambda as lambda_

    # GIVEN the database logins' rotation function
    stack = new_stack()
    function = lambda_.Function.from_function_name(stack, "Rotation", "blog-test-rotation")

    # WHEN observability watches it
    module = Observability(
        stack, "Obs", props=ObservabilityProps(name_prefix="blog-test", database_rotation=function)
    )

    # THEN one error in one period fires an alarm that notifies the topic, and the runbook lists it
    (alarm,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert props["AlarmName"] == "blog-test-database-login-rotation-errors"
    assert (props["MetricName"], props["Namespace"], props["Statistic"]) == ("Errors", "AWS/Lambda", "Sum")
    ((dimension,),) = [props["Dimensions"]]
    assert dimension["Name"] == "FunctionName"
    assert stack.resolve(function.function_name) == dimension["Value"]
    assert (props["Threshold"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (1, 1, 1)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlertsTopic"}]
    assert [record.key for record in module.alarms] == ["database-login-rotation-errors"]
