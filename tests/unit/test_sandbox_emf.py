"""Embedded metric format: the example app's line, read back as CloudWatch Logs would."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timezone

from deployer.sandbox.emf import EmfShipper, metrics_of
from tests.conftest import ROOT


def app_module():
    spec = importlib.util.spec_from_file_location("example_app", ROOT / "examples/app/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_apps_line_becomes_two_datums_with_the_service_dimension():
    line = app_module().emf_line("web-green", 1_700_000_000, checkouts=40, failures=12)
    found = metrics_of(line)
    assert [(ns, d["MetricName"], d["Values"], d["Dimensions"]) for ns, d in found] == [
        ("Example/App", "Checkouts", [40.0], [{"Name": "ServiceName", "Value": "web-green"}]),
        ("Example/App", "CheckoutFailures", [12.0], [{"Name": "ServiceName", "Value": "web-green"}]),
    ]
    assert found[0][1]["Timestamp"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


def test_other_lines_are_plain_logs():
    for line in ('127.0.0.1 - - "GET / HTTP/1.1" 200 -', '{"_aws": 1}', '{"_aws": {"Timestamp": "x"}}', "{not json _aws",
                 '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Metrics": [{"Name": "Missing"}]}]}}'):
        assert metrics_of(line) == []


def test_the_shipper_sends_only_new_complete_lines(tmp_path):
    class CloudWatch:
        def __init__(self):
            self.sent = []

        def put_metric_data(self, Namespace, MetricData):
            self.sent.append((Namespace, [d["MetricName"] for d in MetricData]))

    line = app_module().emf_line("web-blue", 1_700_000_000, 5, 0)
    log = tmp_path / "task-000001.log"
    log.write_text(f"starting\n{line}\n{line[:20]}")  # the last line is still being written
    cw = CloudWatch()
    shipper = EmfShipper(tmp_path, cw)
    assert shipper.flush() == 2 and cw.sent == [("Example/App", ["Checkouts", "CheckoutFailures"])]
    assert shipper.flush() == 0
    with open(log, "a") as f:
        f.write(line[20:] + "\n")
    assert shipper.flush() == 2 and len(cw.sent) == 2
