"""The monthly cost of a synthesized platform, per component, from the repository's price table.

Everything the template says is counted from it (NAT gateways, instances and their scaling floors, task
sizes, desired counts, Spot and Graviton, keys, secrets, alarms ...); what it cannot say (data volumes,
request counts, how long an ACU floor runs) comes from the assumptions in `data/prices.toml`, which
are printed with every estimate. The estimate therefore follows the code: change a task size or add a
NAT gateway and the figure moves.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).resolve().parent / "data" / "prices.toml"
INCLUDED_EPHEMERAL_GB = 20
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")


class PriceError(Exception):
    """The price table lacks a price or an assumption the template needs."""


@dataclass(frozen=True)
class Price:
    key: str
    usd: float
    unit: str
    source: str
    recorded_on: str


@dataclass(frozen=True)
class Assumption:
    key: str
    value: float
    unit: str
    description: str


@dataclass(frozen=True)
class PriceTable:
    region: str
    currency: str
    recorded_on: str
    status: str
    prices: Mapping[str, Price]
    assumptions: Mapping[str, Assumption]

    def usd(self, key: str) -> float:
        try:
            return self.prices[key].usd
        except KeyError:
            raise PriceError(f"no price {key!r} in the price table") from None

    def assume(self, key: str) -> float:
        try:
            return self.assumptions[key].value
        except KeyError:
            raise PriceError(f"no assumption {key!r} in the price table") from None

    @property
    def hours(self) -> float:
        return self.assume("hours_per_month")

    def with_assumptions(self, **values: float) -> PriceTable:
        """The same table with some assumptions changed (what-if estimates, tests)."""
        changed = dict(self.assumptions)
        for key, value in values.items():
            current = self.assumptions.get(key)
            if current is None:
                raise PriceError(f"no assumption {key!r} in the price table")
            changed[key] = Assumption(key, float(value), current.unit, current.description)
        return PriceTable(self.region, self.currency, self.recorded_on, self.status, self.prices, changed)


def load_prices(path: Path = PRICES_FILE) -> PriceTable:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    meta = data.get("meta", {})
    prices = {
        key: Price(key, float(v["usd"]), str(v["unit"]), str(v["source"]), str(v["recorded_on"]))
        for key, v in data.get("prices", {}).items()
    }
    assumptions = {
        key: Assumption(key, float(v["value"]), str(v["unit"]), str(v["description"]))
        for key, v in data.get("assumptions", {}).items()
    }
    return PriceTable(
        region=str(meta.get("region", "us-east-1")),
        currency=str(meta.get("currency", "USD")),
        recorded_on=str(meta.get("recorded_on", "")),
        status=str(meta.get("status", "")),
        prices=prices,
        assumptions=assumptions,
    )


@dataclass(frozen=True)
class Line:
    """One component of the monthly bill."""

    component: str
    quantity: str
    monthly_usd: float
    resources: tuple[str, ...] = ()
    """Logical ids of the template's resources this line counts."""


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]
    assumptions_used: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return round(sum(line.monthly_usd for line in self.lines), 2)

    def by_component(self) -> dict[str, Line]:
        return {line.component: line for line in self.lines}

    def to_json(self) -> dict[str, Any]:
        return {
            "total_usd": self.total,
            "components": [
                {
                    "component": line.component,
                    "quantity": line.quantity,
                    "monthly_usd": line.monthly_usd,
                    "resources": list(line.resources),
                }
                for line in self.lines
            ],
        }


# --- reading the template ------------------------------------------------------------------------


@dataclass
class _Template:
    resources: dict[str, dict[str, Any]]

    def of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") in types:
                yield logical_id, resource.get("Properties", {}) or {}

    def count(self, *types: str) -> tuple[str, ...]:
        return tuple(logical_id for logical_id, _ in self.of_type(*types))


def _refers_to(value: Any, logical_id: str) -> bool:
    """Whether `value` refers to `logical_id` through Ref or Fn::GetAtt."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute and attribute[0] == logical_id:
            return True
        return any(_refers_to(inner, logical_id) for inner in value.values())
    if isinstance(value, list):
        return any(_refers_to(inner, logical_id) for inner in value)
    return False


def _referenced_id(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute:
            return str(attribute[0])
    return None


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _short(logical_id: str) -> str:
    return _HASH_SUFFIX.sub("", logical_id) or logical_id


def _money(value: float) -> float:
    return round(value, 2)


def _plural(count: float, word: str) -> str:
    shown = f"{count:g}"
    if count == 1:
        return f"{shown} {word}"
    if word.endswith(("s", "x", "ch", "sh")):
        return f"{shown} {word}es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return f"{shown} {word[:-1]}ies"
    return f"{shown} {word}s"


@dataclass(frozen=True)
class FargateService:
    logical_id: str
    tasks: int
    vcpu: float
    memory_gb: float
    arm: bool
    spot_tasks: float
    ephemeral_gb: float


def fargate_services(template: Mapping[str, Any]) -> list[FargateService]:
    """The ECS services of `template` as the bill sees them at idle: the autoscaling floor (or the
    desired count) of tasks, each with its task definition's size, architecture and capacity."""
    t = _Template(dict(template.get("Resources", {})))
    floors: dict[str, int] = {}
    for _, target in t.of_type("AWS::ApplicationAutoScaling::ScalableTarget"):
        if target.get("ScalableDimension") != "ecs:service:DesiredCount":
            continue
        for service_id, _ in t.of_type("AWS::ECS::Service"):
            if _refers_to(target.get("ResourceId"), service_id):
                floors[service_id] = int(_number(target.get("MinCapacity"), 1))
    result = []
    for service_id, service in t.of_type("AWS::ECS::Service"):
        task_definition = t.resources.get(_referenced_id(service.get("TaskDefinition")) or "", {})
        task = task_definition.get("Properties", {}) or {}
        if (
            "EC2" in (task.get("RequiresCompatibilities") or ["FARGATE"])
            and service.get("LaunchType") == "EC2"
        ):
            continue
        tasks = floors.get(service_id, int(_number(service.get("DesiredCount"), 1)))
        platform = task.get("RuntimePlatform") or {}
        ephemeral = _number((task.get("EphemeralStorage") or {}).get("SizeInGiB"), INCLUDED_EPHEMERAL_GB)
        result.append(
            FargateService(
                logical_id=service_id,
                tasks=tasks,
                vcpu=_number(task.get("Cpu"), 256) / 1024,
                memory_gb=_number(task.get("Memory"), 512) / 1024,
                arm=str(platform.get("CpuArchitecture", "X86_64")).upper() == "ARM64",
                spot_tasks=_spot_tasks(service.get("CapacityProviderStrategy") or [], tasks),
                ephemeral_gb=max(0.0, ephemeral - INCLUDED_EPHEMERAL_GB),
            )
        )
    return result


def _spot_tasks(strategy: list[dict[str, Any]], tasks: int) -> float:
    """How many of `tasks` a capacity provider strategy places on FARGATE_SPOT (base first, then by
    weight)."""
    if not strategy:
        return 0.0
    remaining = float(tasks)
    spot = 0.0
    for item in strategy:
        base = min(_number(item.get("Base"), 0), remaining)
        if item.get("CapacityProvider") == "FARGATE_SPOT":
            spot += base
        remaining -= base
    weights = [(_number(item.get("Weight"), 0), item.get("CapacityProvider")) for item in strategy]
    total = sum(weight for weight, _ in weights)
    if total > 0:
        spot += remaining * sum(w for w, provider in weights if provider == "FARGATE_SPOT") / total
    return spot


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def flow_runs(template: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether the template sets up ECS flow runs (a Prefect work pool's job variables), and whether
    they start on Fargate Spot."""
    for resource in template.get("Resources", {}).values():
        text = " ".join(_strings(resource.get("Properties", {})))
        if '"launch_type"' in text or '"capacity_provider_strategy"' in text:
            return True, "FARGATE_SPOT" in text
    return False, False


# --- the estimate --------------------------------------------------------------------------------


def estimate(template: Mapping[str, Any], prices: PriceTable) -> Estimate:
    """The monthly cost of `template` at the table's prices and assumptions."""
    t = _Template(dict(template.get("Resources", {})))
    hours = prices.hours
    lines: list[Line] = []
    used: list[str] = ["hours_per_month"]

    def assume(key: str) -> float:
        if key not in used:
            used.append(key)
        return prices.assume(key)

    lines.extend(_network(t, prices, hours, assume))
    lines.append(_aurora(t, prices, hours, assume))
    services = fargate_services(template)
    lines.extend(_fargate(services, prices, hours, assume))
    lines.append(_flow_runs(template, prices, assume))
    lines.extend(_load_balancers(t, prices, hours, assume))
    lines.append(_cloudfront(t, prices, assume))
    lines.append(_elasticache(t, prices, hours))
    lines.extend(_keys_and_secrets(t, prices, assume))
    lines.extend(_monitoring(t, services, prices, assume))
    lines.extend(_storage_and_functions(t, prices, assume))
    return Estimate(lines=tuple(lines), assumptions_used=tuple(used))


_Assume = Callable[[str], float]


def _network(t: _Template, prices: PriceTable, hours: float, assume: _Assume) -> Iterable[Line]:
    nats = t.count("AWS::EC2::NatGateway")
    data_gb = assume("nat_data_gb") if nats else 0.0
    yield Line(
        "NAT gateways",
        f"{_plural(len(nats), 'gateway')} x {hours:g} h + {data_gb:g} GB",
        _money(len(nats) * hours * prices.usd("nat_gateway_hour") + data_gb * prices.usd("nat_gateway_gb")),
        nats,
    )
    eips = t.count("AWS::EC2::EIP")
    public_tasks = sum(
        int(_number(p.get("DesiredCount"), 1))
        for _, p in t.of_type("AWS::ECS::Service")
        if (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration", {}).get("AssignPublicIp")
        == "ENABLED"
    )
    addresses = len(eips) + public_tasks
    yield Line(
        "Public IPv4 addresses",
        f"{_plural(addresses, 'address')} x {hours:g} h",
        _money(addresses * hours * prices.usd("public_ipv4_hour")),
        eips,
    )
    interface = [
        (logical_id, p)
        for logical_id, p in t.of_type("AWS::EC2::VPCEndpoint")
        if p.get("VpcEndpointType") == "Interface"
    ]
    gateway = [
        lid for lid, p in t.of_type("AWS::EC2::VPCEndpoint") if p.get("VpcEndpointType") != "Interface"
    ]
    endpoint_azs = sum(max(1, len(p.get("SubnetIds") or [])) for _, p in interface)
    yield Line(
        "VPC endpoints",
        f"{len(interface)} interface ({endpoint_azs} AZ-endpoints) x {hours:g} h;"
        f" {len(gateway)} gateway (free)",
        _money(endpoint_azs * hours * prices.usd("interface_endpoint_hour")),
        tuple(lid for lid, _ in interface) + tuple(gateway),
    )


def _aurora(t: _Template, prices: PriceTable, hours: float, assume: _Assume) -> Line:
    instances = list(t.of_type("AWS::RDS::DBInstance"))
    total = 0.0
    counted: list[str] = []
    parts: list[str] = []
    for cluster_id, cluster in t.of_type("AWS::RDS::DBCluster"):
        scaling = cluster.get("ServerlessV2ScalingConfiguration")
        members = [
            logical_id
            for logical_id, p in instances
            if _referenced_id(p.get("DBClusterIdentifier")) == cluster_id
            and p.get("DBInstanceClass") == "db.serverless"
        ]
        if not scaling or not members:
            continue
        minimum = _number(scaling.get("MinCapacity"), 0.5)
        if minimum > 0:
            acu, running = max(minimum, assume("aurora_idle_acu")), 1.0
        else:
            acu, running = assume("aurora_idle_acu"), 1.0 - assume("aurora_paused_share")
        optimized = cluster.get("StorageType") == "aurora-iopt1"
        compute = (
            len(members)
            * acu
            * running
            * hours
            * prices.usd("aurora_iopt_acu_hour" if optimized else "aurora_acu_hour")
        )
        storage_gb = assume("aurora_storage_gb")
        storage = storage_gb * prices.usd(
            "aurora_iopt_storage_gb_month" if optimized else "aurora_storage_gb_month"
        )
        io = 0.0 if optimized else assume("aurora_io_millions") * prices.usd("aurora_io_million")
        total += compute + storage + io
        counted += [cluster_id, *members]
        paused = "" if running == 1.0 else f" running {running:.0%} of the time"
        parts.append(
            f"{_plural(len(members), 'instance')} x {acu:g} ACU{paused} (min {minimum:g}) x {hours:g} h"
            f" + {storage_gb:g} GB" + ("" if optimized else f" + {assume('aurora_io_millions'):g}M I/O")
        )
    return Line("Aurora Serverless v2", "; ".join(parts) or "none", _money(total), tuple(counted))


def _task_hour(prices: PriceTable, *, vcpu: float, memory_gb: float, arm: bool) -> float:
    arch = "arm" if arm else "x86"
    return vcpu * prices.usd(f"fargate_{arch}_vcpu_hour") + memory_gb * prices.usd(f"fargate_{arch}_gb_hour")


def _fargate(
    services: list[FargateService], prices: PriceTable, hours: float, assume: _Assume
) -> Iterable[Line]:
    for service in services:
        per_hour = _task_hour(prices, vcpu=service.vcpu, memory_gb=service.memory_gb, arm=service.arm)
        per_hour += service.ephemeral_gb * prices.usd("fargate_ephemeral_gb_hour")
        discount = assume("fargate_spot_discount") if service.spot_tasks else 0.0
        on_demand_tasks = service.tasks - service.spot_tasks
        cost = (on_demand_tasks + service.spot_tasks * (1 - discount)) * per_hour * hours
        capacity = (
            "on-demand"
            if not service.spot_tasks
            else "Spot"
            if service.spot_tasks == service.tasks
            else f"{service.spot_tasks:g} on Spot"
        )
        yield Line(
            f"Fargate: {_short(service.logical_id)}",
            f"{_plural(service.tasks, 'task')} x {service.vcpu:g} vCPU/{service.memory_gb:g} GB "
            f"{'arm64' if service.arm else 'x86_64'} {capacity} x {hours:g} h",
            _money(cost),
            (service.logical_id,),
        )


def _flow_runs(template: Mapping[str, Any], prices: PriceTable, assume: _Assume) -> Line:
    present, spot = flow_runs(template)
    if not present:
        return Line("Fargate: flow runs", "none", 0.0)
    task_hours = assume("flow_run_task_hours")
    vcpu, memory = assume("flow_run_vcpu"), assume("flow_run_memory_gb")
    discount = assume("fargate_spot_discount") if spot else 0.0
    cost = task_hours * _task_hour(prices, vcpu=vcpu, memory_gb=memory, arm=False) * (1 - discount)
    return Line(
        "Fargate: flow runs",
        f"{task_hours:g} task-hours x {vcpu:g} vCPU/{memory:g} GB x86_64 {'Spot' if spot else 'on-demand'}",
        _money(cost),
    )


def _load_balancers(t: _Template, prices: PriceTable, hours: float, assume: _Assume) -> Iterable[Line]:
    balancers = list(t.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer"))
    albs = tuple(lid for lid, p in balancers if p.get("Type", "application") == "application")
    nlbs = tuple(lid for lid, p in balancers if p.get("Type") == "network")
    lcu = assume("alb_lcu")
    yield Line(
        "Application Load Balancer",
        f"{_plural(len(albs), 'load balancer')} x {hours:g} h + {lcu:g} LCU",
        _money(len(albs) * hours * (prices.usd("alb_hour") + lcu * prices.usd("alb_lcu_hour"))),
        albs,
    )
    if nlbs:
        yield Line(
            "Network Load Balancer",
            f"{_plural(len(nlbs), 'load balancer')} x {hours:g} h + {lcu:g} LCU",
            _money(len(nlbs) * hours * (prices.usd("nlb_hour") + lcu * prices.usd("nlb_lcu_hour"))),
            nlbs,
        )


def _cloudfront(t: _Template, prices: PriceTable, assume: _Assume) -> Line:
    distributions = t.count("AWS::CloudFront::Distribution")
    if not distributions:
        return Line("CloudFront", "none", 0.0)
    requests, data = assume("cloudfront_requests_millions"), assume("cloudfront_data_gb")
    cost = requests * 100 * prices.usd("cloudfront_https_10k_requests") + data * prices.usd("cloudfront_gb")
    return Line(
        "CloudFront",
        f"{_plural(len(distributions), 'distribution')}: {requests:g}M requests + {data:g} GB",
        _money(cost),
        distributions,
    )


def _elasticache(t: _Template, prices: PriceTable, hours: float) -> Line:
    nodes: dict[str, int] = {}
    counted: list[str] = []
    for logical_id, p in t.of_type("AWS::ElastiCache::ReplicationGroup"):
        if p.get("NumNodeGroups") is not None or p.get("ReplicasPerNodeGroup") is not None:
            count = int(_number(p.get("NumNodeGroups"), 1)) * (
                1 + int(_number(p.get("ReplicasPerNodeGroup"), 0))
            )
        else:
            count = int(_number(p.get("NumCacheClusters"), 1))
        node_type = str(p.get("CacheNodeType"))
        nodes[node_type] = nodes.get(node_type, 0) + count
        counted.append(logical_id)
    for logical_id, p in t.of_type("AWS::ElastiCache::CacheCluster"):
        node_type = str(p.get("CacheNodeType"))
        nodes[node_type] = nodes.get(node_type, 0) + int(_number(p.get("NumCacheNodes"), 1))
        counted.append(logical_id)
    if t.count("AWS::ElastiCache::ServerlessCache"):
        raise PriceError("ElastiCache Serverless is not in the price table")
    cost = sum(count * hours * prices.usd(f"elasticache:{node_type}") for node_type, count in nodes.items())
    shown = ", ".join(f"{count} x {node_type}" for node_type, count in sorted(nodes.items()))
    return Line(
        "ElastiCache (Redis)", f"{shown} x {hours:g} h" if nodes else "none", _money(cost), tuple(counted)
    )


def _keys_and_secrets(t: _Template, prices: PriceTable, assume: _Assume) -> Iterable[Line]:
    keys = t.count("AWS::KMS::Key")
    requests = assume("kms_requests_10k") if keys else 0.0
    yield Line(
        "KMS keys",
        f"{_plural(len(keys), 'key')} + {requests * 10:g}k requests",
        _money(len(keys) * prices.usd("kms_key_month") + requests * prices.usd("kms_10k_requests")),
        keys,
    )
    secrets = t.count("AWS::SecretsManager::Secret")
    managed = tuple(
        logical_id
        for logical_id, p in t.of_type("AWS::RDS::DBCluster", "AWS::RDS::DBInstance")
        if p.get("ManageMasterUserPassword") is True
    )
    count = len(secrets) + len(managed)
    calls = assume("secrets_api_10k") if count else 0.0
    extra = f" ({len(managed)} managed by RDS)" if managed else ""
    yield Line(
        "Secrets Manager",
        f"{_plural(count, 'secret')}{extra} + {calls * 10:g}k API calls",
        _money(count * prices.usd("secret_month") + calls * prices.usd("secrets_10k_api_calls")),
        secrets + managed,
    )


def _monitoring(
    t: _Template, services: list[FargateService], prices: PriceTable, assume: _Assume
) -> Iterable[Line]:
    tasks = sum(s.tasks for s in services)
    flow_logs = tuple(
        logical_id
        for logical_id, p in t.of_type("AWS::EC2::FlowLog")
        if p.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs"
    )
    app_gb = tasks * assume("log_gb_per_task") if tasks else 0.0
    flow_gb = len(flow_logs) * assume("flow_log_gb") if flow_logs else 0.0
    ingested = app_gb + flow_gb
    retention_days = [
        _number(p.get("RetentionInDays"), 365) for _, p in t.of_type("AWS::Logs::LogGroup")
    ] or [365.0]
    months_kept = min(max(retention_days), 365) / 30.4
    stored = ingested * months_kept
    yield Line(
        "CloudWatch Logs",
        f"{ingested:g} GB/month ingested ({app_gb:g} from {_plural(tasks, 'task')}, {flow_gb:g} flow logs);"
        f" {stored:.1f} GB kept",
        _money(ingested * prices.usd("logs_ingest_gb") + stored * prices.usd("logs_storage_gb_month")),
        t.count("AWS::Logs::LogGroup") + flow_logs,
    )
    alarms = t.count("AWS::CloudWatch::Alarm")
    standard = high = 0
    for _, alarm in t.of_type("AWS::CloudWatch::Alarm"):
        for metric, period in _alarm_metrics(alarm):
            if period is not None and period < 60:
                high += metric
            else:
                standard += metric
    composite = t.count("AWS::CloudWatch::CompositeAlarm")
    dashboards = t.count("AWS::CloudWatch::Dashboard")
    high_shown = f" ({high} high-resolution)" if high else ""
    yield Line(
        "CloudWatch alarms and dashboards",
        f"{_plural(len(alarms), 'alarm')} on {standard + high} metrics{high_shown},"
        f" {len(composite)} composite, {_plural(len(dashboards), 'dashboard')}",
        _money(
            standard * prices.usd("alarm_month")
            + high * prices.usd("alarm_high_resolution_month")
            + len(composite) * prices.usd("composite_alarm_month")
            + len(dashboards) * prices.usd("dashboard_month")
        ),
        alarms + composite + dashboards,
    )
    insight_clusters = tuple(
        logical_id
        for logical_id, p in t.of_type("AWS::ECS::Cluster")
        if any(
            s.get("Name") == "containerInsights" and s.get("Value") in ("enabled", "enhanced")
            for s in p.get("ClusterSettings") or []
        )
    )
    if insight_clusters:
        metrics = len(insight_clusters) * assume("container_insights_metrics_per_cluster") + len(
            services
        ) * assume("container_insights_metrics_per_service")
        events_gb = tasks * assume("container_insights_gb_per_task")
        cost = metrics * prices.usd("metric_month") + events_gb * prices.usd("logs_ingest_gb")
    else:
        metrics = events_gb = cost = 0.0
    yield Line(
        "Container Insights",
        f"{metrics:g} metrics ({_plural(len(services), 'service')}) + {events_gb:g} GB events",
        _money(cost),
        insight_clusters,
    )


def _alarm_metrics(alarm: Mapping[str, Any]) -> list[tuple[int, float | None]]:
    """(metrics, period) of each metric an alarm evaluates: CloudWatch bills an alarm per metric it
    watches (a metric-math alarm per metric in the expression), expressions themselves are free."""
    queries = alarm.get("Metrics")
    if not queries:
        return [(1, _number(alarm.get("Period"), 60))]
    found: list[tuple[int, float | None]] = []
    for query in queries:
        stat = query.get("MetricStat")
        if isinstance(stat, dict):
            found.append((1, _number(stat.get("Period"), 60)))
    return found or [(1, None)]


def _storage_and_functions(t: _Template, prices: PriceTable, assume: _Assume) -> Iterable[Line]:
    buckets = t.count("AWS::S3::Bucket")
    stored = assume("s3_storage_gb") if buckets else 0.0
    yield Line(
        "S3 storage",
        f"{_plural(len(buckets), 'bucket')}, {stored:g} GB together",
        _money(stored * prices.usd("s3_standard_gb_month")),
        buckets,
    )
    repositories = t.count("AWS::ECR::Repository")
    images = len(repositories) * assume("ecr_gb_per_repository") if repositories else 0.0
    yield Line(
        "ECR storage",
        f"{_plural(len(repositories), 'repository')} ({images:g} GB)",
        _money(images * prices.usd("ecr_storage_gb_month")),
        repositories,
    )
    functions = t.count("AWS::Lambda::Function")
    if functions:
        requests, compute = assume("lambda_million_requests"), assume("lambda_gb_seconds")
    else:
        requests = compute = 0.0
    yield Line(
        "Lambda",
        f"{_plural(len(functions), 'function')}: {requests:g}M requests, {compute:g} GB-s (idle ~0)",
        _money(requests * prices.usd("lambda_million_requests") + compute * prices.usd("lambda_gb_second")),
        functions,
    )
    zones = t.count("AWS::ServiceDiscovery::PrivateDnsNamespace", "AWS::Route53::HostedZone")
    registrations = t.count("AWS::ServiceDiscovery::Service")
    yield Line(
        "DNS zones and Cloud Map",
        f"{_plural(len(zones), 'hosted zone')}, {_plural(len(registrations), 'registered service')}",
        _money(
            len(zones) * prices.usd("hosted_zone_month")
            + len(registrations) * prices.usd("cloud_map_instance_month")
        ),
        zones + registrations,
    )


# --- synthesis -----------------------------------------------------------------------------------


def synthesize_template(config: Any) -> dict[str, Any]:
    """The root stack's template of `config`, synthesized in this process without the gates (they
    add findings, not resources)."""
    import tempfile

    from infra.app import build_app

    with tempfile.TemporaryDirectory(prefix="blog-infra-cost-") as outdir:
        app, stack = build_app(config, outdir=outdir)
        template = app.synth().get_stack_by_name(stack.stack_name).template
        result: dict[str, Any] = json.loads(json.dumps(template))
        return result


@dataclass(frozen=True)
class ComponentDelta:
    component: str
    before: float
    after: float

    @property
    def change(self) -> float:
        return round(self.after - self.before, 2)


@dataclass(frozen=True)
class Comparison:
    before: Estimate
    after: Estimate
    deltas: tuple[ComponentDelta, ...] = field(default=())

    @property
    def change(self) -> float:
        return round(self.after.total - self.before.total, 2)


def compare(before: Estimate, after: Estimate) -> Comparison:
    """Per-component change from `before` to `after` (components in either, in bill order)."""
    old, new = before.by_component(), after.by_component()
    names = list(new) + [name for name in old if name not in new]
    deltas = tuple(
        ComponentDelta(
            name,
            old[name].monthly_usd if name in old else 0.0,
            new[name].monthly_usd if name in new else 0.0,
        )
        for name in names
    )
    return Comparison(before=before, after=after, deltas=deltas)
