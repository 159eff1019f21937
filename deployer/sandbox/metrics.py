"""The metrics feeder: per target group RequestCount, HTTPCode_Target_5XX_Count,
TargetConnectionErrorCount and TargetResponseTime into the emulated CloudWatch
(AWS/ApplicationELB), once a second, and per load balancer HTTPCode_ELB_502_Count. As on AWS, a
request whose target did not answer counts in the group's RequestCount, not in the target's 5xx
or its response time: in TargetConnectionErrorCount when no connection was made, in no other
target metric when the target closed the connection mid-request (a 502 of the load balancer).

It publishes through the CloudWatch API like any client. As on AWS, nothing is published for
an idle target group and the 5xx count only when there were 5xx answers.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import datetime, timezone

from deployer.sandbox.emf import EmfShipper
from deployer.sandbox.proxy import Recorder, Sample

MAX_DISTINCT_VALUES = 150  # PutMetricData's limit for Values/Counts


def latency_values(seconds: list[float]) -> tuple[list[float], list[float]]:
    """Values/Counts with at most 150 distinct values (rounded to 1 ms, coarser if needed)."""
    step = 0.001
    while True:
        counts = Counter(round(s / step) * step for s in seconds)
        if len(counts) <= MAX_DISTINCT_VALUES:
            values = sorted(counts)
            return [round(v, 6) for v in values], [float(counts[v]) for v in values]
        step *= 2


def datums(samples: list[Sample]) -> list[dict]:
    grouped: dict[tuple[str, str, int], list[Sample]] = defaultdict(list)
    for s in samples:
        grouped[(s.load_balancer, s.target_group.split(":")[-1], int(s.at))].append(s)
    out = []
    for (lb, tg, second), group in sorted(grouped.items(), key=lambda kv: kv[0][2]):
        dims = [{"Name": "LoadBalancer", "Value": lb}, {"Name": "TargetGroup", "Value": tg}]
        stamp = datetime.fromtimestamp(second, timezone.utc)
        common = {"Dimensions": dims, "Timestamp": stamp, "StorageResolution": 1}
        out.append({"MetricName": "RequestCount", "Value": float(len(group)), "Unit": "Count", **common})
        answered = [s for s in group if s.answered]
        errors = sum(1 for s in answered if s.status >= 500)
        if errors:
            out.append({"MetricName": "HTTPCode_Target_5XX_Count", "Value": float(errors), "Unit": "Count", **common})
        refused = sum(1 for s in group if s.connection_error)
        if refused:
            out.append({"MetricName": "TargetConnectionErrorCount", "Value": float(refused), "Unit": "Count", **common})
        if len(answered) < len(group):  # the load balancer's own 502s: by load balancer only, as on AWS
            out.append({"MetricName": "HTTPCode_ELB_502_Count", "Value": float(len(group) - len(answered)), "Unit": "Count",
                        "Dimensions": dims[:1], "Timestamp": stamp, "StorageResolution": 1})
        if answered:
            values, counts = latency_values([s.seconds for s in answered])
            out.append({"MetricName": "TargetResponseTime", "Values": values, "Counts": counts, "Unit": "Seconds", **common})
    return out


class MetricsFeeder:
    def __init__(self, recorder: Recorder, cloudwatch_client, emf: EmfShipper | None = None):
        self.recorder = recorder
        self.cloudwatch = cloudwatch_client
        self.emf = emf  # the tasks' own metrics, from their logs

    def flush(self, now: float | None = None) -> int:
        """Publish every whole second that has ended (and the tasks' new EMF lines); returns the datums sent."""
        now = now or time.time()
        batch = datums(self.recorder.take_before(float(int(now))))
        for i in range(0, len(batch), 20):
            self.cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=batch[i:i + 20])
        return len(batch) + (self.emf.flush() if self.emf is not None else 0)
