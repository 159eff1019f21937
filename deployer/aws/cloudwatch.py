"""CloudWatch: ALB metrics per target group and any other metrics in one GetMetricData call, and alarm states."""

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
    answered: tuple[float, ...] = ()  # requests the target answered (refused and dropped ones are not)

    @property
    def unanswered(self) -> int:
        """Requests the target never answered: refused connections and connections it closed
        mid-request. Both are the ALB's 502s, and only RequestCount of the group counts them."""
        return max(0, round(sum(self.requests) - sum(self.answered)))


MAX_QUERIES = 500  # GetMetricData's limit per call
# (metric, statistic, GroupMetrics field order): requests, errors, p99, p50, answered
ALB_SERIES = (
    ("RequestCount", "Sum", "req"),
    ("HTTPCode_Target_5XX_Count", "Sum", "err"),
    ("TargetResponseTime", "p99", "p99"),
    ("TargetResponseTime", "p50", "p50"),
    ("TargetResponseTime", "SampleCount", "ans"),
)


ALB_SUFFIXES = tuple(suffix for _, _, suffix in ALB_SERIES)


def alb_queries(load_balancer: str, target_group: str) -> dict[str, tuple]:
    """suffix -> the `metric_values` query of one ALB series of one target group."""
    dimensions = [{"Name": "LoadBalancer", "Value": load_balancer}, {"Name": "TargetGroup", "Value": target_group}]
    return {suffix: ("AWS/ApplicationELB", metric, dimensions, stat) for metric, stat, suffix in ALB_SERIES}


def latency_rank_queries(load_balancer: str, target_group: str, thresholds_ms: tuple[float, ...]) -> dict[str, tuple]:
    """The queries that count a target group's requests slower than each threshold: per threshold,
    the percentile rank `PR(:t)`, the percent of the answered requests at most t seconds (with the
    SampleCount of ALB_SERIES, a count). CloudWatch computes it from the full distribution."""
    dimensions = [{"Name": "LoadBalancer", "Value": load_balancer}, {"Name": "TargetGroup", "Value": target_group}]
    queries = {}
    for ms in thresholds_ms:
        queries[f"pr{ms:g}"] = ("AWS/ApplicationELB", "TargetResponseTime", dimensions, f"PR(:{ms / 1000:.6g})")
    return queries


def slower_than(answered: tuple[float, ...], percent_at_most: tuple[float, ...]) -> int:
    """Requests slower than a threshold, period by period: answered x (100 - PR) / 100."""
    return sum(round(n * (100 - pr) / 100) for n, pr in zip(answered, percent_at_most))


class CloudWatch(Adapter):
    service_name = "cloudwatch"

    def metric_values(self, queries: dict, start: datetime, end: datetime, period: int) -> dict:
        """key -> (namespace, metric name, dimensions, statistic); returns key -> the period values,
        oldest first (missing periods are absent). One GetMetricData call for all, paginated."""
        keys = sorted(queries, key=repr)
        requests = [{
            "Id": f"q{i}",
            "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": list(dimensions)},
                           "Period": period, "Stat": stat},
            "ReturnData": True,
        } for i, (namespace, metric, dimensions, stat) in enumerate(queries[k] for k in keys)]
        found: dict[str, list[float]] = {q["Id"]: [] for q in requests}
        for first in range(0, len(requests), MAX_QUERIES):
            token = None
            while True:
                params = {"MetricDataQueries": requests[first:first + MAX_QUERIES], "StartTime": start, "EndTime": end,
                          "ScanBy": "TimestampAscending"}
                if token:
                    params["NextToken"] = token
                response = self._call("get_metric_data", idempotent=True, **params)
                for result in response.get("MetricDataResults", []):
                    found[result["Id"]].extend(float(v) for v in result.get("Values", []))
                token = response.get("NextToken")
                if not token:
                    break
        return {key: tuple(found[f"q{i}"]) for i, key in enumerate(keys)}

    def alarms_in_alarm(self, names: list[str]) -> list[str]:
        if not names:
            return []
        response = self._call("describe_alarms", idempotent=True, AlarmNames=list(names))
        return [a["AlarmName"] for a in response.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
