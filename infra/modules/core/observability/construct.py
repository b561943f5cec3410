"""Alarms, the alerts topic and the dashboard of the platform.

Every alarm notifies the alerts topic when it fires and when it recovers, and its description ends
with what to check first. The alarms are also kept as `AlarmRecord`s, from which `docs/runbook.md`
is generated (`python -m infra.modules.core.observability.runbook`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.modules.keys import restrict_grants_to_aws_services
from infra.modules.stateful import pin_logical_id

CLOUDFRONT_METRICS_REGION = "us-east-1"
"""CloudFront publishes its metrics in us-east-1 only, with the dimension `Region=Global`."""
CONTAINER_INSIGHTS_NAMESPACE = "ECS/ContainerInsights"
DEFAULT_PERIOD = Duration.minutes(5)
MIB = 1024 * 1024
DASHBOARD_WIDTH = 24
ROW_HEIGHT = 6
TEXT_WIDTH = 4
STATUS_WIDTH = 4

EDGE = "edge"
DATABASE = "database"
ORK_PROCESSOR = "ork-processor"
BROKER = "pipelines-broker"
SCHEDULING = "pipelines-scheduling"
ELASTICACHE_NAMESPACE = "AWS/ElastiCache"

_SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_HTTPS = re.compile(r"^https://[^\s/]+(/\S*)?$")


class FunctionMetrics(Protocol):
    """What the alarms read from a Lambda function fed asynchronously, with an on-failure queue.

    `OrkProcessor` has these methods; `LambdaWithQueue` builds them from a function and its queue.
    """

    def metric_errors(self, period: Duration = ...) -> cloudwatch.Metric: ...

    def metric_throttles(self, period: Duration = ...) -> cloudwatch.Metric: ...

    def metric_failure_queue_depth(self, period: Duration = ...) -> cloudwatch.Metric: ...


@dataclass(frozen=True)
class LambdaWithQueue:
    """`FunctionMetrics` of a plain Lambda function and the queue its failed events land in."""

    function: lambda_.IFunction
    failure_queue: sqs.IQueue

    def metric_errors(self, period: Duration = DEFAULT_PERIOD) -> cloudwatch.Metric:
        return self.function.metric_errors(period=period, statistic="Sum")

    def metric_throttles(self, period: Duration = DEFAULT_PERIOD) -> cloudwatch.Metric:
        return self.function.metric_throttles(period=period, statistic="Sum")

    def metric_failure_queue_depth(self, period: Duration = DEFAULT_PERIOD) -> cloudwatch.Metric:
        return self.failure_queue.metric_approximate_number_of_messages_visible(
            period=period, statistic="Maximum"
        )


@dataclass(frozen=True, kw_only=True)
class AlarmThresholds:
    """When the alarms fire. Each default is explained in the module's README."""

    period: Duration = DEFAULT_PERIOD
    """Length of one evaluated period (whole minutes)."""
    evaluation_periods: int = 3
    """Periods looked at by the sustained-condition alarms (ALB, ECS, Aurora, CloudFront)."""
    datapoints_to_alarm: int = 2
    """How many of those periods must breach; the Lambda and queue alarms fire on one period."""
    min_requests: int = 20
    """Error-rate alarms ignore periods with fewer requests than this (one error in three requests is no
    outage)."""
    alb_5xx_percent: float = 5.0
    """5xx answers, in percent of requests: of the load balancer itself, and of each target group."""
    unhealthy_hosts: int = 1
    """Unhealthy targets in a target group (maximum over a period) at or above which it alarms."""
    tasks_below_desired: int = 1
    """Shortfall of running tasks against the desired count, at or above which it alarms."""
    ecs_cpu_percent: float = 85.0
    """Average CPU utilisation of a service (autoscaling aims at 70 %)."""
    ecs_memory_percent: float = 85.0
    """Average memory utilisation of a service; tasks are killed when they reach their limit."""
    aurora_cpu_percent: float = 80.0
    """CPU utilisation of the Aurora cluster."""
    aurora_capacity_fraction: float = 1.0
    """Alarm when the cluster's capacity reaches this fraction of its maximum ACU (1.0: at the maximum)."""
    aurora_connections_percent: float = 80.0
    """Open database connections (maximum), in percent of the cluster's max_connections."""
    redis_memory_percent: float = 80.0
    """Memory the broker's data uses, in percent of its maxmemory (DatabaseMemoryUsagePercentage, any
    node)."""
    redis_evictions: int = 1
    """Keys the broker evicted in one period: an evicted stream or lease is lost Prefect state."""
    redis_connections: int = 1000
    """Client connections to one broker node (CurrConnections, maximum)."""
    redis_replication_lag_seconds: float = 10.0
    """How far a broker replica is behind its primary (ReplicationLag, maximum), in seconds."""
    late_flow_runs: int = 1
    """Flow runs marked Late in one period (their worker did not start them in time)."""
    aurora_freeable_memory_mib: int = 256
    """Freeable memory of the cluster (minimum), in MiB, below which it alarms."""
    lambda_errors: int = 1
    """Failed invocations of the ork processor in one period."""
    lambda_throttles: int = 1
    """Throttled invocations of the ork processor in one period."""
    failure_queue_messages: int = 1
    """Events waiting in the ork processor's failure queue."""
    cloudfront_5xx_percent: float = 5.0
    """CloudFront 5xx error rate, in percent of viewer requests."""


@dataclass(frozen=True, kw_only=True)
class AppSurface:
    """An application surface (a dashboard row): its ECS services and its target groups, each named."""

    name: str
    """Name of the surface, e.g. `portal`; prefixes its alarms."""
    services: tuple[tuple[str, ecs.BaseService], ...]
    """`(name, service)` pairs, e.g. `("api", prefect.api_service)`."""
    target_groups: tuple[tuple[str, elbv2.IApplicationTargetGroup], ...] = ()
    """`(name, target group)` pairs; each must already be attached to the load balancer."""


@dataclass(frozen=True)
class AlarmRecord:
    """One alarm, as the runbook lists it."""

    name: str
    """The alarm's name in CloudWatch, `<name_prefix>-<key>`."""
    key: str
    """The alarm's name without the prefix, e.g. `portal-web-unhealthy-hosts`."""
    surface: str
    """Dashboard row it belongs to, e.g. `edge`."""
    meaning: str
    """What it means when it fires."""
    check_first: str
    """The runbook line: what to look at first."""
    metric: str
    """The metric or expression evaluated, in words."""
    threshold: str
    """When it fires, in words, e.g. `>= 1 in 2 of 3 periods of 5 min`."""
    missing_data: str
    """How missing data is treated, and why."""

    @property
    def description(self) -> str:
        """The alarm description: what it means, then what to check first."""
        return f"{self.meaning} Check first: {self.check_first}"


@dataclass(frozen=True, kw_only=True)
class ObservabilityProps:
    """Inputs of the observability module."""

    name_prefix: str
    """Alarms are named `<name_prefix>-<key>`, the topic `<name_prefix>-alerts`, the dashboard
    `<name_prefix>`; e.g. `blog-prod`."""
    subscriptions: tuple[str, ...] = ()
    """Who is notified: e-mail addresses and `https://` endpoints (each confirms its subscription)."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """When the alarms fire."""
    load_balancer: elbv2.IApplicationLoadBalancer | None = None
    """The shared load balancer: its own 5xx rate is an edge alarm."""
    distribution: cloudfront.IDistribution | None = None
    """The CloudFront distribution: its 5xx error rate is an edge alarm (created when the stack is in
    us-east-1, where CloudFront's metrics are; elsewhere the dashboard shows it)."""
    apps: tuple[AppSurface, ...] = ()
    """Application surfaces (portal, pipelines): task count, CPU, memory and target-group alarms."""
    database: rds.IDatabaseCluster | None = None
    """The Aurora Serverless v2 cluster."""
    database_max_capacity: float | None = None
    """Maximum ACU of `database`; required with it (the capacity-at-max alarm compares against it)."""
    database_max_connections: int | None = None
    """The `max_connections` of `database` at its configured capacity (`infra.aws_facts.
    aurora_postgres_max_connections`); required with it (the connections alarm is a share of it)."""
    broker: elasticache.CfnReplicationGroup | None = None
    """Prefect's Redis message broker: memory, evictions, connections and (with replicas) replication lag."""
    broker_nodes: int = 1
    """Nodes of `broker` (its primary and its replicas); ElastiCache names them `<group id>-001`, `-002`..."""
    late_runs_log_group: logs.ILogGroup | None = None
    """The log group of the process that runs Prefect's services: a metric filter counts its late runs."""
    late_runs_filter_pattern: logs.IFilterPattern | None = None
    """The lines of `late_runs_log_group` that mark one flow run late; required with it."""
    ork_processor: FunctionMetrics | None = None
    """The ork processor (or `LambdaWithQueue(function, queue)`): errors, throttles, failure queue."""
    database_rotation: lambda_.IFunction | None = None
    """The rotation function of the database's consumer logins: any failed step is an alarm."""
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    """What happens to the topic's KMS key when it leaves the stack."""
    dashboard: bool = True
    """Create the dashboard (about $3 a month); without it every alarm and notification stays, and
    CloudWatch's automatic ECS and RDS dashboards remain."""


class Observability(Construct):
    """An encrypted, TLS-only SNS alerts topic; CloudWatch alarms that notify it when they fire and when
    they recover; and, unless switched off, one dashboard with a row per surface."""

    def __init__(self, scope: Construct, id: str, *, props: ObservabilityProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        self._props = props
        self._thresholds = props.thresholds
        stack = Stack.of(self)
        self.alarm_arn_pattern = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{props.name_prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the {props.name_prefix} alerts topic.",
            enable_key_rotation=True,
            removal_policy=props.removal_policy,
            pending_window=Duration.days(30),
        )
        pin_logical_id(self.key, "AlertsKey")
        restrict_grants_to_aws_services(self.key)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStack",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=self._alarm_source_conditions(stack),
            )
        )

        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"{props.name_prefix}-alerts",
            display_name=f"{props.name_prefix} alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        pin_logical_id(self.topic, "AlertsTopic")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStack",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=self._alarm_source_conditions(stack),
            )
        )
        for endpoint in props.subscriptions:
            if endpoint.startswith("https://"):
                self.topic.add_subscription(
                    subscriptions.UrlSubscription(endpoint, protocol=sns.SubscriptionProtocol.HTTPS)
                )
            else:
                self.topic.add_subscription(subscriptions.EmailSubscription(endpoint))
        self._action = cw_actions.SnsAction(self.topic)

        self.alarms: list[AlarmRecord] = []
        self.cloudwatch_alarms: dict[str, cloudwatch.Alarm] = {}
        self.dashboard: cloudwatch.Dashboard | None = None
        if props.dashboard:
            self.dashboard = cloudwatch.Dashboard(
                self,
                "Dashboard",
                dashboard_name=props.name_prefix,
                default_interval=Duration.hours(6),
            )
        self._edge(stack, props)
        for app in props.apps:
            self._app(app)
        if (
            props.database is not None
            and props.database_max_capacity is not None
            and props.database_max_connections is not None
        ):
            self._database(props.database, props.database_max_capacity, props.database_max_connections)
        if props.ork_processor is not None:
            self._ork_processor(props.ork_processor)
        if props.database_rotation is not None:
            self._database_rotation(props.database_rotation)
        if props.broker is not None:
            self._broker(props.broker, props.broker_nodes)
        if props.late_runs_log_group is not None and props.late_runs_filter_pattern is not None:
            self._late_runs(props.late_runs_log_group, props.late_runs_filter_pattern)

    # --- alarms -----------------------------------------------------------------------------------

    def _alarm_source_conditions(self, stack: Stack) -> dict[str, dict[str, str]]:
        return {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": self.alarm_arn_pattern},
        }

    def _alarm(
        self,
        *,
        key: str,
        surface: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        meaning: str,
        check_first: str,
        metric_summary: str,
        threshold_summary: str,
        missing: cloudwatch.TreatMissingData,
        missing_reason: str,
        sustained: bool = True,
    ) -> cloudwatch.Alarm:
        t = self._thresholds
        evaluation, datapoints = (t.evaluation_periods, t.datapoints_to_alarm) if sustained else (1, 1)
        minutes = int(t.period.to_minutes())
        record = AlarmRecord(
            name=f"{self._props.name_prefix}-{key}",
            key=key,
            surface=surface,
            meaning=meaning,
            check_first=check_first,
            metric=metric_summary,
            threshold=f"{threshold_summary} in {datapoints} of {evaluation} periods of {minutes} min",
            missing_data=f"{missing.value.replace('notBreaching', 'not breaching')}: {missing_reason}",
        )
        alarm = cloudwatch.Alarm(
            self,
            "".join(part.capitalize() for part in key.split("-")) + "Alarm",
            alarm_name=record.name,
            alarm_description=record.description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation,
            datapoints_to_alarm=datapoints,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(record)
        self.cloudwatch_alarms[key] = alarm
        return alarm

    def _rate(
        self, errors: cloudwatch.IMetric, requests: cloudwatch.IMetric, label: str
    ) -> cloudwatch.MathExpression:
        """Errors in percent of requests; 0 in periods with fewer than `min_requests` requests."""
        minimum = self._thresholds.min_requests
        return cloudwatch.MathExpression(
            expression=f"IF(requests >= {minimum}, 100 * FILL(errors, 0) / requests, 0)",
            using_metrics={"errors": errors, "requests": requests},
            period=self._thresholds.period,
            label=label,
        )

    def _edge(self, stack: Stack, props: ObservabilityProps) -> None:
        t = self._thresholds
        period = t.period
        graphs: list[_Graph] = []
        alarms: list[cloudwatch.IAlarm] = []
        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        not_breaching = cloudwatch.TreatMissingData.NOT_BREACHING
        if props.distribution is not None:
            dimensions = {"DistributionId": props.distribution.distribution_id, "Region": "Global"}
            rate = cloudwatch.Metric(
                namespace="AWS/CloudFront",
                metric_name="5xxErrorRate",
                dimensions_map=dimensions,
                statistic="Average",
                period=period,
                region=CLOUDFRONT_METRICS_REGION,
            )
            requests = cloudwatch.Metric(
                namespace="AWS/CloudFront",
                metric_name="Requests",
                dimensions_map=dimensions,
                statistic="Sum",
                period=period,
                region=CLOUDFRONT_METRICS_REGION,
            )
            expression = cloudwatch.MathExpression(
                expression=f"IF(requests >= {t.min_requests}, rate, 0)",
                using_metrics={"rate": rate, "requests": requests},
                period=period,
                label="CloudFront 5xx %",
            )
            if stack.region == CLOUDFRONT_METRICS_REGION:
                alarms.append(
                    self._alarm(
                        key="edge-cloudfront-5xx-rate",
                        surface=EDGE,
                        metric=expression,
                        threshold=t.cloudfront_5xx_percent,
                        comparison=gt,
                        meaning="CloudFront answered viewers with 5xx errors (its own, or relayed from the "
                        "load balancer).",
                        check_first="the edge-elb-5xx-rate and *-unhealthy-hosts alarms (an origin problem), "
                        "then the CloudFront access logs in the edge log bucket "
                        "(x-edge-detailed-result-type) for an origin connection or TLS error.",
                        metric_summary="AWS/CloudFront 5xxErrorRate (average, Region=Global, us-east-1), "
                        f"0 when Requests < {t.min_requests}",
                        threshold_summary=f"> {_number(t.cloudfront_5xx_percent)} %",
                        missing=not_breaching,
                        missing_reason="no viewer requests, no errors.",
                    )
                )
            graphs.append(_graph("CloudFront 5xx %", [expression], right=[requests]))
        if props.load_balancer is not None:
            metrics = props.load_balancer.metrics
            elb_errors = metrics.http_code_elb(
                elbv2.HttpCodeElb.ELB_5XX_COUNT, period=period, statistic="Sum"
            )
            requests = metrics.request_count(period=period, statistic="Sum")
            expression = self._rate(elb_errors, requests, "Load balancer 5xx %")
            alarms.append(
                self._alarm(
                    key="edge-elb-5xx-rate",
                    surface=EDGE,
                    metric=expression,
                    threshold=t.alb_5xx_percent,
                    comparison=gt,
                    meaning="The load balancer itself answered 5xx (502/503/504): no healthy target, or "
                    "targets that reset or time out.",
                    check_first="the *-unhealthy-hosts and *-tasks-below-desired alarms, then the ECS "
                    "service events (aws ecs describe-services) and the ALB access logs (error_reason).",
                    metric_summary="AWS/ApplicationELB HTTPCode_ELB_5XX_Count / RequestCount * 100, "
                    f"0 when RequestCount < {t.min_requests}",
                    threshold_summary=f"> {_number(t.alb_5xx_percent)} %",
                    missing=not_breaching,
                    missing_reason="no requests, no errors.",
                )
            )
            graphs.append(_graph("Load balancer 5xx %", [expression], right=[requests]))
        if graphs:
            self._row("Edge", "CloudFront and the internal load balancer.", alarms, graphs)

    def _app(self, app: AppSurface) -> None:
        t = self._thresholds
        period = t.period
        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        not_breaching = cloudwatch.TreatMissingData.NOT_BREACHING
        alarms: list[cloudwatch.IAlarm] = []
        tasks: list[cloudwatch.IMetric] = []
        usage: list[cloudwatch.IMetric] = []
        for name, service in app.services:
            key = f"{app.name}-{name}"
            dimensions = {"ClusterName": service.cluster.cluster_name, "ServiceName": service.service_name}
            running = cloudwatch.Metric(
                namespace=CONTAINER_INSIGHTS_NAMESPACE,
                metric_name="RunningTaskCount",
                dimensions_map=dimensions,
                statistic="Average",
                period=period,
            )
            desired = cloudwatch.Metric(
                namespace=CONTAINER_INSIGHTS_NAMESPACE,
                metric_name="DesiredTaskCount",
                dimensions_map=dimensions,
                statistic="Average",
                period=period,
            )
            shortfall = cloudwatch.MathExpression(
                expression="desired - running",
                using_metrics={"desired": desired, "running": running},
                period=period,
                label=f"{name} tasks missing",
            )
            alarms.append(
                self._alarm(
                    key=f"{key}-tasks-below-desired",
                    surface=app.name,
                    metric=shortfall,
                    threshold=t.tasks_below_desired,
                    comparison=gte,
                    meaning=f"Fewer {app.name} {name} tasks run than the service wants: tasks fail to start, "
                    "crash, or fail their health checks.",
                    check_first="the service's events and the stopped tasks' stoppedReason (aws ecs "
                    "describe-services / describe-tasks --desired-status STOPPED): image pull, secret "
                    "access, out-of-memory or health check.",
                    metric_summary="ECS/ContainerInsights DesiredTaskCount - RunningTaskCount (average)",
                    threshold_summary=f">= {t.tasks_below_desired} task(s)",
                    missing=cloudwatch.TreatMissingData.BREACHING,
                    missing_reason="Container Insights reports every minute; silence means the service "
                    "or Container Insights is gone.",
                )
            )
            for metric_name, limit, what in (
                ("cpu", t.ecs_cpu_percent, "CPU"),
                ("memory", t.ecs_memory_percent, "memory"),
            ):
                metric = (
                    service.metric_cpu_utilization(period=period, statistic="Average", label=f"{name} CPU %")
                    if metric_name == "cpu"
                    else service.metric_memory_utilization(
                        period=period, statistic="Average", label=f"{name} memory %"
                    )
                )
                usage.append(metric)
                alarms.append(
                    self._alarm(
                        key=f"{key}-{metric_name}",
                        surface=app.name,
                        metric=metric,
                        threshold=limit,
                        comparison=gt,
                        meaning=f"The {app.name} {name} tasks use most of their {what}"
                        + (
                            "; they slow down and autoscaling is at its maximum or cannot keep up."
                            if metric_name == "cpu"
                            else "; a task that reaches its limit is killed (OutOfMemory)."
                        ),
                        check_first="the service's running task count against its autoscaling maximum, "
                        "and the application logs for a runaway request or job; raise the task size in "
                        "the environment's config.toml if the load is real.",
                        metric_summary=f"AWS/ECS {'CPU' if metric_name == 'cpu' else 'Memory'}Utilization "
                        "of the service (average)",
                        threshold_summary=f"> {_number(limit)} %",
                        missing=not_breaching,
                        missing_reason="no running task reports none; the tasks-below-desired alarm covers "
                        "that.",
                    )
                )
            tasks.extend([running, desired])
        graphs: list[_Graph] = [
            _graph("Running and desired tasks", tasks),
            _graph("CPU and memory %", usage),
        ]
        errors_graph: list[cloudwatch.IMetric] = []
        unhealthy_graph: list[cloudwatch.IMetric] = []
        for name, target_group in app.target_groups:
            key = f"{app.name}-{name}"
            metrics = target_group.metrics
            errors = metrics.http_code_target(
                elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period, statistic="Sum"
            )
            requests = metrics.request_count(period=period, statistic="Sum")
            rate = self._rate(errors, requests, f"{name} 5xx %")
            unhealthy = metrics.unhealthy_host_count(
                period=period, statistic="Maximum", label=f"{name} unhealthy"
            )
            errors_graph.append(rate)
            unhealthy_graph.append(unhealthy)
            alarms.append(
                self._alarm(
                    key=f"{key}-5xx-rate",
                    surface=app.name,
                    metric=rate,
                    threshold=t.alb_5xx_percent,
                    comparison=gt,
                    meaning=f"The {app.name} application answers 5xx to its requests ({name} target group).",
                    check_first=f"the {app.name} log group for errors since the alarm started, and whether "
                    "a deployment or a database alarm coincides.",
                    metric_summary="AWS/ApplicationELB HTTPCode_Target_5XX_Count / RequestCount * 100 of "
                    f"the target group, 0 when RequestCount < {t.min_requests}",
                    threshold_summary=f"> {_number(t.alb_5xx_percent)} %",
                    missing=not_breaching,
                    missing_reason="no requests, no errors.",
                )
            )
            alarms.append(
                self._alarm(
                    key=f"{key}-unhealthy-hosts",
                    surface=app.name,
                    metric=unhealthy,
                    threshold=t.unhealthy_hosts,
                    comparison=gte,
                    meaning=f"Targets of the {app.name} {name} target group fail their health checks.",
                    check_first="the target health reason (aws elbv2 describe-target-health) and the "
                    f"{app.name} log group around the health-check path; then the service's security group "
                    "rule from the load balancer.",
                    metric_summary="AWS/ApplicationELB UnHealthyHostCount of the target group (maximum)",
                    threshold_summary=f">= {t.unhealthy_hosts} target(s)",
                    missing=not_breaching,
                    missing_reason="a target group without registered targets reports nothing; the "
                    "tasks-below-desired alarm covers that.",
                )
            )
        if app.target_groups:
            graphs.extend(
                [_graph("Target 5xx %", errors_graph), _graph("Unhealthy targets", unhealthy_graph)]
            )
        services = ", ".join(name for name, _ in app.services)
        self._row(app.name.capitalize(), f"ECS services: {services}.", alarms, graphs)

    def _database(self, cluster: rds.IDatabaseCluster, max_capacity: float, max_connections: int) -> None:
        t = self._thresholds
        period = t.period
        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        not_breaching = cloudwatch.TreatMissingData.NOT_BREACHING
        paused = "the cluster reports nothing while auto-paused (0 ACU)."
        cpu = cluster.metric_cpu_utilization(period=period, statistic="Average", label="CPU %")
        capacity = cluster.metric(
            "ServerlessDatabaseCapacity", period=period, statistic="Maximum", label="Capacity (ACU)"
        )
        connections = cluster.metric_database_connections(
            period=period, statistic="Maximum", label="Connections"
        )
        memory = cluster.metric_freeable_memory(period=period, statistic="Minimum", label="Freeable memory")
        at_max = max_capacity * t.aurora_capacity_fraction
        connection_limit = int(max_connections * t.aurora_connections_percent / 100)
        alarms: list[cloudwatch.IAlarm] = [
            self._alarm(
                key="database-cpu",
                surface=DATABASE,
                metric=cpu,
                threshold=t.aurora_cpu_percent,
                comparison=gt,
                meaning="Aurora's CPU is busy; queries slow down, and at maximum capacity they queue.",
                check_first="Performance Insights' top SQL for the window, and whether the "
                "database-capacity-at-max alarm fires too.",
                metric_summary="AWS/RDS CPUUtilization of the cluster (average)",
                threshold_summary=f"> {_number(t.aurora_cpu_percent)} %",
                missing=not_breaching,
                missing_reason=paused,
            ),
            self._alarm(
                key="database-capacity-at-max",
                surface=DATABASE,
                metric=capacity,
                threshold=at_max,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                meaning="Aurora Serverless v2 runs at its maximum capacity and cannot scale further.",
                check_first="Performance Insights' top SQL (a runaway query or a missing index), then "
                "raise aurora.max_capacity in the environment's config.toml if the load is real.",
                metric_summary="AWS/RDS ServerlessDatabaseCapacity of the cluster (maximum)",
                threshold_summary=f">= {_number(at_max)} ACU (maximum {_number(max_capacity)} ACU)",
                missing=not_breaching,
                missing_reason=paused,
            ),
            self._alarm(
                key="database-connections",
                surface=DATABASE,
                metric=connections,
                threshold=connection_limit,
                comparison=gt,
                meaning="Many connections are open; at max_connections new ones are refused.",
                check_first="pg_stat_activity by application_name and state (prefect-api, "
                "prefect-services or prefect-server against their pool sizes in docs/performance.md; idle "
                "connections of a leaking pool), and the task counts of the services that connect.",
                metric_summary="AWS/RDS DatabaseConnections of the cluster (maximum)",
                threshold_summary=f"> {connection_limit} connections "
                f"({_number(t.aurora_connections_percent)} % of max_connections {max_connections} at "
                f"{_number(max_capacity)} ACU)",
                missing=not_breaching,
                missing_reason=paused,
            ),
            self._alarm(
                key="database-freeable-memory",
                surface=DATABASE,
                metric=memory,
                threshold=t.aurora_freeable_memory_mib * MIB,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                meaning="Aurora runs out of memory; it swaps, evicts its cache and may restart.",
                check_first="the capacity graph (stuck at the maximum?) and the connection count "
                "(each connection costs memory); then raise aurora.max_capacity.",
                metric_summary="AWS/RDS FreeableMemory of the cluster (minimum)",
                threshold_summary=f"< {t.aurora_freeable_memory_mib} MiB",
                missing=not_breaching,
                missing_reason=paused,
            ),
        ]
        graphs: list[_Graph] = [
            _graph("CPU %", [cpu]),
            _graph(
                "Capacity (ACU)",
                [capacity],
                annotations=[cloudwatch.HorizontalAnnotation(value=max_capacity, label="maximum")],
            ),
            _graph(
                "Connections",
                [connections],
                annotations=[cloudwatch.HorizontalAnnotation(value=max_connections, label="max_connections")],
            ),
            _graph("Freeable memory", [memory]),
        ]
        self._row("Database", "Aurora PostgreSQL Serverless v2.", alarms, graphs)

    def _ork_processor(self, function: FunctionMetrics) -> None:
        t = self._thresholds
        period = t.period
        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        not_breaching = cloudwatch.TreatMissingData.NOT_BREACHING
        errors = function.metric_errors(period)
        throttles = function.metric_throttles(period)
        depth = function.metric_failure_queue_depth(period)
        alarms: list[cloudwatch.IAlarm] = [
            self._alarm(
                key="ork-processor-errors",
                surface=ORK_PROCESSOR,
                metric=errors,
                threshold=t.lambda_errors,
                comparison=gte,
                meaning="Design-file processing failed; the upload is retried twice, then its event goes to "
                "the failure queue.",
                check_first="the ork processor's log group for the exception and the object key; then "
                "whether the Neo4j Aura and Cloudinary secrets still hold placeholders "
                "(blog-infra secrets status).",
                metric_summary="AWS/Lambda Errors of the function (sum)",
                threshold_summary=f">= {t.lambda_errors} error(s)",
                missing=not_breaching,
                missing_reason="no uploads, no invocations.",
                sustained=False,
            ),
            self._alarm(
                key="ork-processor-throttles",
                surface=ORK_PROCESSOR,
                metric=throttles,
                threshold=t.lambda_throttles,
                comparison=gte,
                meaning="Uploads arrive faster than the reserved concurrency processes them; events wait "
                "and expire after an hour.",
                check_first="the upload burst in the design-files bucket; raise "
                "lambda_concurrency.ork_processor if it is the normal load (with the account quota).",
                metric_summary="AWS/Lambda Throttles of the function (sum)",
                threshold_summary=f">= {t.lambda_throttles} throttle(s)",
                missing=not_breaching,
                missing_reason="no uploads, no invocations.",
                sustained=False,
            ),
            self._alarm(
                key="ork-processor-failures-queued",
                surface=ORK_PROCESSOR,
                metric=depth,
                threshold=t.failure_queue_messages,
                comparison=gte,
                meaning="Design files whose processing failed for good wait in the failure queue (kept 14 "
                "days).",
                check_first="one message of the failure queue (its requestContext.condition and the "
                "object key), fix the cause, then upload the file again and delete the message.",
                metric_summary="AWS/SQS ApproximateNumberOfMessagesVisible of the failure queue (maximum)",
                threshold_summary=f">= {t.failure_queue_messages} message(s)",
                missing=not_breaching,
                missing_reason="an idle, empty queue stops reporting.",
                sustained=False,
            ),
        ]
        graphs: list[_Graph] = [
            _graph("Errors and throttles", [errors, throttles]),
            _graph("Failure queue", [depth]),
        ]
        self._row("Ork processor", "The design-file Lambda and its failure queue.", alarms, graphs)

    def _database_rotation(self, function: lambda_.IFunction) -> None:
        errors = function.metric_errors(period=self._thresholds.period, statistic="Sum")
        alarm = self._alarm(
            key="database-login-rotation-errors",
            surface=DATABASE,
            metric=errors,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            meaning="A step of a consumer login's rotation failed; the secret keeps its current login "
            "until a rotation succeeds.",
            check_first="the rotation function's log group (it names the step and the secret), then "
            "blog-infra secrets status; once fixed, blog-infra secrets rotate NAME.",
            metric_summary="AWS/Lambda Errors of the rotation function (sum)",
            threshold_summary=">= 1 error(s)",
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            missing_reason="no rotation, no invocations.",
            sustained=False,
        )
        self._row(
            "Database logins",
            "Rotation of the consumer logins (alternating users).",
            [alarm],
            [_graph("Rotation errors", [errors])],
        )

    def _broker(self, group: elasticache.CfnReplicationGroup, nodes: int) -> None:
        """Prefect's Redis: ElastiCache reports per node (`CacheClusterId` `<group id>-00n`), and the
        primary moves on fail-over, so each alarm reads every node."""
        t = self._thresholds
        period = t.period
        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        not_breaching = cloudwatch.TreatMissingData.NOT_BREACHING
        node_ids = [f"{group.ref}-{index:03d}" for index in range(1, nodes + 1)]

        def across(metric_name: str, statistic: str, function: str, label: str) -> cloudwatch.MathExpression:
            using = {
                f"n{index}": cloudwatch.Metric(
                    namespace=ELASTICACHE_NAMESPACE,
                    metric_name=metric_name,
                    dimensions_map={"CacheClusterId": node_id},
                    statistic=statistic,
                    period=period,
                )
                for index, node_id in enumerate(node_ids)
            }
            return cloudwatch.MathExpression(
                expression=f"{function}([{', '.join(using)}])",
                using_metrics=using,
                period=period,
                label=label,
            )

        memory = across("DatabaseMemoryUsagePercentage", "Maximum", "MAX", "Memory %")
        evictions = across("Evictions", "Sum", "SUM", "Evictions")
        connections = across("CurrConnections", "Maximum", "MAX", "Connections")
        missing_reason = (
            "ElastiCache reports every minute; a node that reports nothing is covered by the API's 5xx and "
            "unhealthy-hosts alarms."
        )
        alarms: list[cloudwatch.IAlarm] = [
            self._alarm(
                key="pipelines-broker-memory",
                surface=BROKER,
                metric=memory,
                threshold=t.redis_memory_percent,
                comparison=gt,
                meaning="Prefect's Redis is filling up; at its maxmemory it evicts keys (events, leases, "
                "Docket tasks) or refuses writes, and the API's state changes fail.",
                check_first="the size of the event streams (XLEN of the prefect messaging streams) and "
                "whether the services task is running to consume them; then a larger redis node type.",
                metric_summary="AWS/ElastiCache DatabaseMemoryUsagePercentage, maximum over the nodes",
                threshold_summary=f"> {_number(t.redis_memory_percent)} %",
                missing=not_breaching,
                missing_reason=missing_reason,
            ),
            self._alarm(
                key="pipelines-broker-evictions",
                surface=BROKER,
                metric=evictions,
                threshold=t.redis_evictions,
                comparison=gte,
                meaning="Prefect's Redis evicted keys: events, concurrency leases or Docket tasks were lost.",
                check_first="the pipelines-broker-memory alarm and the memory graph; runs whose concurrency "
                "slots or events went missing in the Prefect UI.",
                metric_summary="AWS/ElastiCache Evictions, sum over the nodes",
                threshold_summary=f">= {t.redis_evictions} key(s)",
                missing=not_breaching,
                missing_reason=missing_reason,
                sustained=False,
            ),
            self._alarm(
                key="pipelines-broker-connections",
                surface=BROKER,
                metric=connections,
                threshold=t.redis_connections,
                comparison=gt,
                meaning="Unusually many clients are connected to Prefect's Redis: a process leaks "
                "connections or the API scaled far out.",
                check_first="CLIENT LIST grouped by address (which tasks), against the API's running task "
                "count; restart the task that holds most.",
                metric_summary="AWS/ElastiCache CurrConnections, maximum over the nodes",
                threshold_summary=f"> {t.redis_connections} connections",
                missing=not_breaching,
                missing_reason=missing_reason,
            ),
        ]
        graphs: list[_Graph] = [
            _graph("Memory %", [memory]),
            _graph("Evictions", [evictions]),
            _graph("Connections", [connections]),
        ]
        if nodes > 1:
            # Fail-over: ReplicationLag rather than ElastiCache's fail-over events, which ElastiCache sends
            # to an SNS topic of its own (NotificationTopicArn), not through CloudWatch alarms and this
            # runbook; a replica that falls behind is what loses writes when the primary fails over, and
            # a fail-over shows as lag while the new replica resynchronises.
            lag = across("ReplicationLag", "Maximum", "MAX", "Replication lag (s)")
            alarms.append(
                self._alarm(
                    key="pipelines-broker-replication-lag",
                    surface=BROKER,
                    metric=lag,
                    threshold=t.redis_replication_lag_seconds,
                    comparison=gt,
                    meaning="A replica of Prefect's Redis is behind its primary: a fail-over now loses "
                    "the writes it has not received, or one has just happened and it is resynchronising.",
                    check_first="the replication group's events (aws elasticache describe-events "
                    "--source-type replication-group) for a fail-over, and the memory and network graphs.",
                    metric_summary="AWS/ElastiCache ReplicationLag, maximum over the nodes (the replicas "
                    "report it)",
                    threshold_summary=f"> {_number(t.redis_replication_lag_seconds)} s",
                    missing=not_breaching,
                    missing_reason="the primary reports no lag; during a node's replacement none does.",
                )
            )
            graphs.append(_graph("Replication lag (s)", [lag]))
        self._row("Pipelines broker", "Prefect's Redis (ElastiCache).", alarms, graphs)

    def _late_runs(self, log_group: logs.ILogGroup, pattern: logs.IFilterPattern) -> None:
        """Flow runs marked Late, counted by a metric filter on the log group of the process that runs
        Prefect's services (Prefect sends nothing to CloudWatch by itself)."""
        t = self._thresholds
        metric_filter = logs.MetricFilter(
            self,
            "LateFlowRunsFilter",
            log_group=log_group,
            filter_pattern=pattern,
            metric_namespace=f"{self._props.name_prefix}/prefect",
            metric_name="LateFlowRunLines",
            metric_value="1",
            default_value=0,
        )
        metric = metric_filter.metric(period=t.period, statistic="Sum", label="Late-run lines")
        alarm = self._alarm(
            key="pipelines-late-flow-runs",
            surface=SCHEDULING,
            metric=metric,
            threshold=t.late_flow_runs,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            meaning="Prefect marked flow runs Late: they were due and no worker started them (the worker is "
            "down or cannot reach the API, its pool or queue is paused, or a concurrency limit holds them).",
            check_first="the Prefect UI's Late runs and their work pool (paused? workers online?), the "
            "pipelines-worker-tasks-below-desired alarm, and the worker's log for RunTask errors.",
            metric_summary="lines of Docket's mark_flow_run_late task in the Prefect log group (metric "
            "filter; two lines per run: started and finished)",
            threshold_summary=f">= {t.late_flow_runs} line(s)",
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            missing_reason="the filter reports 0 while the services log; silence means the services "
            "process is down, which the tasks-below-desired alarms cover.",
            sustained=False,
        )
        self._row(
            "Pipelines scheduling", "Prefect's late flow runs.", [alarm], [_graph("Late runs", [metric])]
        )

    # --- dashboard --------------------------------------------------------------------------------

    def _row(
        self,
        title: str,
        description: str,
        alarms: Sequence[cloudwatch.IAlarm],
        graphs: Sequence[_Graph],
    ) -> None:
        """One dashboard row: the surface's name, its alarms' states, then its graphs."""
        if self.dashboard is None:
            return
        width = (DASHBOARD_WIDTH - TEXT_WIDTH - STATUS_WIDTH) // max(len(graphs), 1)
        text = cloudwatch.TextWidget(
            markdown=f"## {title}\n{description}\n\nRunbook: docs/runbook.md",
            width=TEXT_WIDTH,
            height=ROW_HEIGHT,
        )
        status = cloudwatch.AlarmStatusWidget(
            alarms=list(alarms), title="Alarms", width=STATUS_WIDTH, height=ROW_HEIGHT
        )
        self.dashboard.add_widgets(text, status, *[graph.widget(width) for graph in graphs])


def _graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    right: Sequence[cloudwatch.IMetric] = (),
    annotations: Sequence[cloudwatch.HorizontalAnnotation] = (),
) -> _Graph:
    return _Graph(title, tuple(left), tuple(right), tuple(annotations))


@dataclass(frozen=True)
class _Graph:
    """A graph whose width is known once its row is laid out."""

    title: str
    left: tuple[cloudwatch.IMetric, ...]
    right: tuple[cloudwatch.IMetric, ...]
    annotations: tuple[cloudwatch.HorizontalAnnotation, ...]

    def widget(self, width: int) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=self.title,
            left=list(self.left),
            right=list(self.right) or None,
            left_annotations=list(self.annotations) or None,
            width=width,
            height=ROW_HEIGHT,
        )


def _number(value: float) -> str:
    return f"{value:g}"


def _validate(props: ObservabilityProps) -> None:
    if not _PREFIX.fullmatch(props.name_prefix):
        raise ValueError(
            f"Observability name_prefix {props.name_prefix!r} must be letters, digits and '-', starting with "
            "a letter, at most 63 characters (e.g. blog-prod)"
        )
    for endpoint in props.subscriptions:
        if not (_EMAIL.fullmatch(endpoint) or _HTTPS.fullmatch(endpoint)):
            raise ValueError(
                f"Observability subscription {endpoint!r} must be an e-mail address or an https:// URL "
                "(plain http would send alerts unencrypted)"
            )
    if len(set(props.subscriptions)) != len(props.subscriptions):
        raise ValueError("Observability subscriptions must be distinct")
    if (props.database is None) != (props.database_max_capacity is None):
        raise ValueError(
            "Observability database and database_max_capacity go together: the capacity-at-max alarm "
            "compares the cluster's capacity with its maximum ACU"
        )
    if props.database_max_capacity is not None and props.database_max_capacity <= 0:
        raise ValueError(
            f"Observability database_max_capacity {props.database_max_capacity} must be a positive ACU count"
        )
    if props.database is not None and props.database_max_connections is None:
        raise ValueError(
            "Observability database needs database_max_connections: the connections alarm is a share of it"
        )
    if props.database_max_connections is not None and props.database_max_connections < 1:
        raise ValueError("Observability database_max_connections must be at least 1")
    if (props.late_runs_log_group is None) != (props.late_runs_filter_pattern is None):
        raise ValueError("Observability late_runs_log_group and late_runs_filter_pattern go together")
    if not 1 <= props.broker_nodes <= 6:
        raise ValueError(
            f"Observability broker_nodes {props.broker_nodes} must be 1 to 6 (a primary and 0-5 replicas)"
        )
    names: list[str] = []
    for app in props.apps:
        if not _SLUG.fullmatch(app.name):
            raise ValueError(f"Observability app name {app.name!r} must be lowercase words joined by '-'")
        if not app.services:
            raise ValueError(f"Observability app {app.name!r} needs at least one (name, service) pair")
        for name, _ in (*app.services, *app.target_groups):
            if not _SLUG.fullmatch(name):
                raise ValueError(
                    f"Observability name {name!r} in app {app.name!r} must be lowercase words joined by '-'"
                )
        names.extend([app.name])
        for kind, pairs in (("service", app.services), ("target group", app.target_groups)):
            pair_names = [name for name, _ in pairs]
            if len(set(pair_names)) != len(pair_names):
                raise ValueError(
                    f"Observability app {app.name!r} names a {kind} twice: {', '.join(pair_names)}"
                )
    reserved = {EDGE, DATABASE, ORK_PROCESSOR, BROKER, SCHEDULING}
    if len(set(names)) != len(names) or reserved & set(names):
        raise ValueError(
            f"Observability app names must be distinct and not {', '.join(sorted(reserved))}: "
            f"{', '.join(names)}"
        )
    if not (
        props.load_balancer
        or props.distribution
        or props.apps
        or props.database
        or props.ork_processor
        or props.database_rotation
    ):
        raise ValueError(
            "Observability has nothing to watch: give at least one of load_balancer, distribution, apps, "
            "database, ork_processor or database_rotation"
        )
    _validate_thresholds(props.thresholds)


def _validate_thresholds(t: AlarmThresholds) -> None:
    if Token.is_unresolved(t.period.to_seconds()) or t.period.to_seconds() % 60 or t.period.to_seconds() < 60:
        raise ValueError(
            "AlarmThresholds period must be whole minutes, at least one (e.g. Duration.minutes(5))"
        )
    if t.evaluation_periods < 1 or not 1 <= t.datapoints_to_alarm <= t.evaluation_periods:
        raise ValueError(
            f"AlarmThresholds datapoints_to_alarm ({t.datapoints_to_alarm}) must be between 1 and "
            f"evaluation_periods ({t.evaluation_periods})"
        )
    if t.period.to_seconds() * t.evaluation_periods > 86400:
        raise ValueError("AlarmThresholds period * evaluation_periods must not exceed one day")
    for name in (
        "alb_5xx_percent",
        "ecs_cpu_percent",
        "ecs_memory_percent",
        "aurora_cpu_percent",
        "cloudfront_5xx_percent",
        "aurora_connections_percent",
        "redis_memory_percent",
    ):
        value = getattr(t, name)
        if not 0 < value <= 100:
            raise ValueError(f"AlarmThresholds {name} ({value}) must be a percentage above 0 and at most 100")
    if t.redis_replication_lag_seconds <= 0:
        raise ValueError(
            "AlarmThresholds redis_replication_lag_seconds "
            f"({t.redis_replication_lag_seconds}) must be above 0"
        )
    if not 0 < t.aurora_capacity_fraction <= 1:
        raise ValueError(
            f"AlarmThresholds aurora_capacity_fraction ({t.aurora_capacity_fraction}) must be above 0 and at "
            "most 1 (1.0 fires at the maximum ACU)"
        )
    for name in (
        "min_requests",
        "unhealthy_hosts",
        "tasks_below_desired",
        "aurora_freeable_memory_mib",
        "redis_evictions",
        "redis_connections",
        "late_flow_runs",
        "lambda_errors",
        "lambda_throttles",
        "failure_queue_messages",
    ):
        value = getattr(t, name)
        if value < 1:
            raise ValueError(f"AlarmThresholds {name} ({value}) must be at least 1")
