"""CloudWatch: ALB metrics per target group in one GetMetricData call, and alarm states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deployer.aws.base import Adapter


@dataclass(frozen=True)
class GroupMetrics:
    """Per period values (missing periods are absent: ALB publishes nothing when idle)."""

    requests: tuple[float, ...]
    errors: tuple[float, ...]
    p99_seconds: tuple[float, ...]
    p50_seconds: tuple[float, ...] = ()
    connection_errors: tuple[float, ...] = ()  # requests the target never answered (the ALB's 502s)


class CloudWatch(Adapter):
    service_name = "cloudwatch"

    def target_group_metrics(
        self, groups: dict[str, tuple[str, str]], start: datetime, end: datetime, period: int
    ) -> dict[str, GroupMetrics]:
        """`groups`: key -> (LoadBalancer dimension, TargetGroup dimension). One call for all of them."""
        queries = []
        for i, (key, (lb, tg)) in enumerate(sorted(groups.items())):
            dimensions = [{"Name": "LoadBalancer", "Value": lb}, {"Name": "TargetGroup", "Value": tg}]
            for metric, stat, suffix in (
                ("RequestCount", "Sum", "req"),
                ("HTTPCode_Target_5XX_Count", "Sum", "err"),
                ("TargetConnectionErrorCount", "Sum", "cer"),
                ("TargetResponseTime", "p99", "p99"),
                ("TargetResponseTime", "p50", "p50"),
            ):
                queries.append({
                    "Id": f"{suffix}{i}",
                    "Label": f"{key}:{suffix}",
                    "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dimensions},
                                   "Period": period, "Stat": stat},
                    "ReturnData": True,
                })
        values: dict[str, list[float]] = {q["Id"]: [] for q in queries}
        token = None
        while True:
            params = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
            if token:
                params["NextToken"] = token
            response = self._call("get_metric_data", idempotent=True, **params)
            for result in response.get("MetricDataResults", []):
                values[result["Id"]].extend(float(v) for v in result.get("Values", []))
            token = response.get("NextToken")
            if not token:
                break
        return {
            key: GroupMetrics(tuple(values[f"req{i}"]), tuple(values[f"err{i}"]), tuple(values[f"p99{i}"]),
                              tuple(values[f"p50{i}"]), tuple(values[f"cer{i}"]))
            for i, key in enumerate(sorted(groups))
        }

    def alarms_in_alarm(self, names: list[str]) -> list[str]:
        if not names:
            return []
        response = self._call("describe_alarms", idempotent=True, AlarmNames=list(names))
        return [a["AlarmName"] for a in response.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
