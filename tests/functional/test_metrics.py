"""ALB metrics end to end without traffic: the sandbox's feeder publishes samples through the
CloudWatch API (moto server), the CloudWatch adapter reads them back in one GetMetricData call."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from deployer.aws.cloudwatch import CloudWatch
from deployer.sandbox.metrics import MetricsFeeder, datums
from deployer.sandbox.proxy import Recorder, Sample
from tests.functional.conftest import client

LB = "app/web/0123456789abcdef"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/0123456789abcdef"
TG = "targetgroup/web-green/0123456789abcdef"


def samples(at: float) -> list[Sample]:
    ok = [Sample(TG_ARN, LB, 200, 0.010 + i / 10_000, at) for i in range(90)]
    failed = [Sample(TG_ARN, LB, 500, 0.020, at) for _ in range(6)]
    refused = [Sample(TG_ARN, LB, 502, 0.001, at, connection_error=True) for _ in range(4)]
    return ok + failed + refused


def test_refused_connections_count_as_requests_not_as_target_5xx_or_latency():
    by_name = {d["MetricName"]: d for d in datums(samples(1_800_000_000.5))}
    assert by_name["RequestCount"]["Value"] == 100
    assert by_name["HTTPCode_Target_5XX_Count"]["Value"] == 6
    assert by_name["TargetConnectionErrorCount"]["Value"] == 4
    assert sum(by_name["TargetResponseTime"]["Counts"]) == 96
    only_refused = {d["MetricName"] for d in datums([Sample(TG_ARN, LB, 502, 0.001, 1.0, True)])}
    assert only_refused == {"RequestCount", "TargetConnectionErrorCount", "HTTPCode_ELB_502_Count"}


def test_a_connection_dropped_mid_request_is_a_request_of_the_group_and_a_502_of_the_load_balancer():
    """As on AWS: no status from the target, so no target 5xx, no response time, no connection error;
    the group's RequestCount has it, and HTTPCode_ELB_502_Count (load balancer dimension only)."""
    dropped = datums([Sample(TG_ARN, LB, 502, 0.002, 1.0, dropped=True), Sample(TG_ARN, LB, 200, 0.01, 1.0)])
    by_name = {d["MetricName"]: d for d in dropped}
    assert set(by_name) == {"RequestCount", "TargetResponseTime", "HTTPCode_ELB_502_Count"}
    assert by_name["RequestCount"]["Value"] == 2 and sum(by_name["TargetResponseTime"]["Counts"]) == 1
    assert by_name["HTTPCode_ELB_502_Count"]["Dimensions"] == [{"Name": "LoadBalancer", "Value": LB}]


def publish_alb_samples() -> tuple[float, float]:
    """The feeder publishes 100 requests of one second (6 target 5xx, 4 refused); (now, that second)."""
    now = time.time()
    second = float(int(now) - 5)
    recorder = Recorder()
    for s in samples(second + 0.5):
        recorder.add(s)
    assert MetricsFeeder(recorder, client("cloudwatch")).flush(now) == 5
    return now, second


def test_published_metrics_come_back_through_the_adapter(aws):
    now, second = publish_alb_samples()
    from deployer.aws.cloudwatch import ALB_SUFFIXES, GroupMetrics, alb_queries

    values = CloudWatch(client("cloudwatch")).metric_values(
        alb_queries(LB, TG), datetime.fromtimestamp(second - 60, timezone.utc), datetime.fromtimestamp(now + 60, timezone.utc), 60)
    green = GroupMetrics(*(values[suffix] for suffix in ALB_SUFFIXES))
    assert sum(green.requests) == 100 and sum(green.errors) == 6 and sum(green.answered) == 96 and green.unanswered == 4
    assert 0.010 <= green.p50_seconds[0] <= 0.0150 and 0.015 <= green.p99_seconds[0] <= 0.021


def test_an_apps_emf_counts_come_back_per_color_through_the_target(aws, tmp_path):
    """The app's EMF line in a task log -> PutMetricData (the sandbox's extraction) -> the adapter's
    GetMetricData with the dimensions filled in per color, as a gate's source reads them."""
    import importlib.util

    from deployer.release.metric_verdict import MetricCheck
    from deployer.sandbox.emf import EmfShipper
    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("example_app", ROOT / "examples/app/app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    second = int(time.time()) - 5
    (tmp_path / "task-000001.log").write_text(app.emf_line("web-green", second, 40, 12) + "\n" + app.emf_line("web-blue", second, 360, 3) + "\n")
    assert EmfShipper(tmp_path, client("cloudwatch")).flush() == 4
    check = MetricCheck("checkout-errors", "Example/App", "CheckoutFailures", (("ServiceName", "{service}"),), "Sum", "errors", limit=5.0)
    queries = {color: (check.namespace, check.metric, check.dimensions_for({"color": color, "service": f"web-{color}", "target_group": ""}),
                       check.statistic) for color in ("green", "blue")}
    values = CloudWatch(client("cloudwatch")).metric_values(
        queries, datetime.fromtimestamp(second - 60, timezone.utc), datetime.fromtimestamp(second + 60, timezone.utc), 60)
    assert {c: sum(v) for c, v in values.items()} == {"green": 12.0, "blue": 3.0}


def test_the_target_reads_traffic_and_the_apps_metric_in_one_get_metric_data(aws, tmp_path, examples_config):
    """A gate with a custom metric sends one GetMetricData per evaluation, not one per source."""
    import importlib.util

    from deployer.release.metric_verdict import MetricCheck
    from deployer.release.target import ServiceTarget
    from deployer.sandbox.emf import EmfShipper
    from deployer.synth import names
    from tests.conftest import ROOT

    now, second = publish_alb_samples()
    spec = importlib.util.spec_from_file_location("example_app", ROOT / "examples/app/app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    (tmp_path / "task-000001.log").write_text(app.emf_line("web-green", int(second), 40, 12) + "\n")
    assert EmfShipper(tmp_path, client("cloudwatch")).flush() == 2
    check = MetricCheck("checkout-errors", "Example/App", "CheckoutFailures", (("ServiceName", "{service}"),), "Sum", "errors", limit=5.0)
    cloudwatch = CloudWatch(client("cloudwatch"))
    outputs = {names.output_target_group_full_name("green"): TG, names.output_load_balancer_full_name(): LB}
    target = ServiceTarget(examples_config.services["web"], outputs, None, None, None, cloudwatch)
    readout = target.read_window(["green"], second - 60, now + 60, 60, (check,))
    assert cloudwatch.calls == 1
    green = readout.traffic["green"]
    assert (green.requests, green.errors) == (100, 10)  # 6 target 5xx + 4 refused connections
    assert sum(readout.metrics["checkout-errors"]["green"]) == 12.0


def test_requests_slower_than_a_threshold_are_counted_by_cloudwatch_in_the_same_call(aws, examples_config):
    """PR(:t) of TargetResponseTime (the percent at most t) and its SampleCount give the requests
    slower than t, per period; moto answers them through the sandbox's extension, as CloudWatch does."""
    from deployer.release.target import ServiceTarget
    from deployer.synth import names

    now, second = publish_alb_samples()  # 96 answered: 90 between 10 and 19 ms, 6 at 20 ms
    cloudwatch = CloudWatch(client("cloudwatch"))
    outputs = {names.output_target_group_full_name("green"): TG, names.output_load_balancer_full_name(): LB}
    target = ServiceTarget(examples_config.services["web"], outputs, None, None, None, cloudwatch)
    green = target.read_window(["green"], second - 60, now + 60, 60, (), latency_ms=(19.5, 9.0)).traffic["green"]
    assert cloudwatch.calls == 1
    assert (green.slower_than_allowed, green.slower_than_reference) == (6, 96)
    none = target.read_window(["green"], second - 60, now + 60, 60, (), latency_ms=(25.0, 20.0)).traffic["green"]
    assert (none.slower_than_allowed, none.slower_than_reference) == (0, 0)  # at most t is not slower than t
