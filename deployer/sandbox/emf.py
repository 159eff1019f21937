"""CloudWatch embedded metric format (EMF), as CloudWatch Logs extracts it from a task's log.

On ECS, a container that prints EMF JSON lines to an awslogs log stream gets those metrics in
CloudWatch with no agent and no API call. The sandbox's tasks log to files: this module reads
the new complete lines of each, and publishes the metrics they declare through PutMetricData.
A line that is not EMF is left alone, as CloudWatch Logs does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

MAX_LINE = 256 * 1024  # CloudWatch Logs' event size limit


def metrics_of(line: str) -> list[tuple[str, dict]]:
    """(namespace, MetricDatum) for each metric an EMF line declares; [] for any other line."""
    if not line.startswith("{") or '"_aws"' not in line or len(line) > MAX_LINE:
        return []
    try:
        event = json.loads(line)
        meta = event["_aws"]
        stamp = datetime.fromtimestamp(int(meta["Timestamp"]) / 1000, timezone.utc)
        out = []
        for directive in meta["CloudWatchMetrics"]:
            for dimension_set in directive.get("Dimensions") or [[]]:
                dimensions = [{"Name": key, "Value": str(event[key])} for key in dimension_set]
                for metric in directive["Metrics"]:
                    value = event[metric["Name"]]
                    values = [float(v) for v in value] if isinstance(value, list) else [float(value)]
                    datum = {"MetricName": metric["Name"], "Dimensions": dimensions, "Timestamp": stamp,
                             "Values": values, "Counts": [1.0] * len(values), "StorageResolution": 1}
                    if metric.get("Unit"):
                        datum["Unit"] = metric["Unit"]
                    out.append((str(directive["Namespace"]), datum))
        return out
    except (ValueError, KeyError, TypeError, OverflowError, OSError):
        return []  # not valid EMF: CloudWatch Logs keeps it as a plain log line


class EmfShipper:
    """Follows every task log in `log_dir`; `flush()` publishes what was printed since the last call."""

    def __init__(self, log_dir: Path, cloudwatch_client):
        self.log_dir = Path(log_dir)
        self.cloudwatch = cloudwatch_client
        self.offsets: dict[Path, int] = {}

    def flush(self) -> int:
        by_namespace: dict[str, list[dict]] = {}
        for path in sorted(self.log_dir.glob("task-*.log")):
            for line in self._new_lines(path):
                for namespace, datum in metrics_of(line):
                    by_namespace.setdefault(namespace, []).append(datum)
        sent = 0
        for namespace, batch in by_namespace.items():
            for i in range(0, len(batch), 20):
                self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch[i:i + 20])
            sent += len(batch)
        return sent

    def _new_lines(self, path: Path) -> list[str]:
        start = self.offsets.get(path, 0)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                chunk = f.read(4 * MAX_LINE)
        except OSError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offsets[path] = start + end + 1
        return chunk[:end].decode("utf-8", "replace").splitlines()
