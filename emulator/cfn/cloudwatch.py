"""CloudWatch: ``Alarm``, missing in moto's CloudFormation."""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import (
    CloudWatchBackend,
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel

from emulator.cfn._base import Resource, as_bool, as_int, physical_name, properties_of


def _backend(account_id: str, region_name: str) -> CloudWatchBackend:
    return cloudwatch_backends[account_id][region_name]


def _queries(metrics: list[dict[str, Any]]) -> list[MetricDataQuery]:
    """Metric math queries in the objects moto's PutMetricAlarm handler builds."""
    queries = []
    for metric in metrics:
        stat = metric.get("MetricStat") or {}
        inner = stat.get("Metric") or {}
        metric_stat = None
        if inner.get("MetricName"):
            dimensions = [
                Dimension(name=d.get("Name"), value=d.get("Value")) for d in inner.get("Dimensions") or []
            ]
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=str(inner["MetricName"]),
                    namespace=str(inner.get("Namespace")),
                    dimensions=dimensions,
                ),
                period=stat.get("Period"),  # type: ignore[arg-type]
                stat=str(stat.get("Stat")),
                unit=stat.get("Unit"),  # type: ignore[arg-type]
            )
        queries.append(
            MetricDataQuery(
                query_id=str(metric.get("Id", "")),
                label=str(metric.get("Label", "")),
                period=metric.get("Period"),  # type: ignore[arg-type]
                return_data=metric.get("ReturnData", True),
                expression=metric.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class Alarm(Resource, CloudFormationModel):
    """``AWS::CloudWatch::Alarm``; Ref gives the alarm name, ``Arn`` its ARN."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def attributes(self) -> dict[str, Any]:
        return {"Arn": _backend(self.account_id, self.region_name).alarms[self.physical_id].alarm_arn}

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Alarm:
        props = properties_of(cloudformation_json)
        name = str(props.get("AlarmName") or physical_name(resource_name, 255, lower=False))
        cls._put(name, props, account_id, region_name)
        return cls(name, account_id, region_name, props)

    @staticmethod
    def _put(name: str, props: dict[str, Any], account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).put_metric_alarm(
            name=name,
            namespace=props.get("Namespace", ""),
            metric_name=props.get("MetricName", ""),
            comparison_operator=str(props.get("ComparisonOperator")),
            evaluation_periods=as_int(props.get("EvaluationPeriods"), 1) or 1,
            period=as_int(props.get("Period"), 60) or 60,
            threshold=float(props.get("Threshold", 0)),
            statistic=props.get("Statistic", ""),
            description=props.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions") or []],
            alarm_actions=list(props.get("AlarmActions") or []),
            metric_data_queries=_queries(list(props.get("Metrics") or [])) or None,
            datapoints_to_alarm=as_int(props.get("DatapointsToAlarm")),
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=list(props.get("OKActions") or []),
            insufficient_data_actions=list(props.get("InsufficientDataActions") or []),
            unit=props.get("Unit"),
            actions_enabled=as_bool(props.get("ActionsEnabled"), True),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
        )

    def update_properties(self, properties: dict[str, Any], new_resource_name: str) -> Resource:
        if properties.get("AlarmName", self.physical_id) != self.physical_id:
            replacement = Alarm.create_from_cloudformation_json(
                new_resource_name, {"Properties": properties}, self.account_id, self.region_name
            )
            self.delete_resource()
            return replacement
        self._put(self.physical_id, properties, self.account_id, self.region_name)
        self.properties = properties
        return self

    def delete_resource(self) -> None:
        _backend(self.account_id, self.region_name).delete_alarms([self.physical_id])
