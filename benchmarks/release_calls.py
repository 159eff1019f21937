"""AWS requests per release by strategy, and the time from a FAIL verdict to traffic restored.

Runs against an in-process moto server (ELBv2, Route53, DynamoDB, CloudFormation are real HTTP);
ECS and GetMetricData are the test fakes at the adapter interface, counted as the requests the
real adapters send for the same calls. Requests are shown by kind: the release's AWS work (ELBv2,
Route53, ECS, CloudWatch) apart from the journal's lock and record writes (DynamoDB). No other tool is
measured in this run, so none is compared with; rolling_calls_sandbox.py measures ecs-deploy beside
deployer. Run: .venv/bin/python benchmarks/release_calls.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# ECS requests the real adapter sends per fake call (register = describe + register; the tasks
# behind a color's targets = ListTasks + DescribeTasks + DescribeTaskDefinition for awsvpc tasks).
ECS_REQUESTS = {"services": 1, "register_with_image": 2, "update": 1, "scale": 1, "rollout": 1, "service_tasks": 3,
                "find_registered": 2}


class CountingEcs:
    def __init__(self, inner):
        self.inner = inner
        self.requests = 0

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name in ECS_REQUESTS:
            def counted(*args, **kwargs):
                self.requests += ECS_REQUESTS[name]
                return attr(*args, **kwargs)
            return counted
        return attr


def changed(text: str, edits: dict[tuple, object]) -> str:
    """The spec with these fields set (parsed and dumped, so an edit cannot silently match nothing);
    a path that is not in the spec stops the benchmark."""
    import yaml

    data = yaml.safe_load(text)
    for path, value in edits.items():
        node = data
        for key in path[:-1]:
            if not isinstance(node, dict) or key not in node:
                raise SystemExit(f"benchmark spec edit: {'.'.join(path)} is not in examples/deployer.yaml")
            node = node[key]
        if not isinstance(node, dict) or path[-1] not in node:
            raise SystemExit(f"benchmark spec edit: {'.'.join(path)} is not in examples/deployer.yaml")
        node[path[-1]] = value
    return yaml.safe_dump(data, sort_keys=False)


def main() -> int:
    from moto.server import ThreadedMotoServer

    from deployer.sandbox import moto_ext

    from tests.fakes import SANDBOX_HEALTH

    moto_ext.install(SANDBOX_HEALTH)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
    try:
        return run()
    finally:
        server.stop()


def run() -> int:
    import urllib.request

    from deployer.aws.dynamodb import Table
    from deployer.errors import RolledBack
    from deployer.release import service as releases
    from deployer.release.executor import LEASE_SECONDS, Executor, Settings
    from deployer.release.journal import DynamoJournal
    from deployer.release.strategies import request_from_spec
    from deployer.release.report import report
    from deployer.release.target import ServiceTarget
    from deployer.spec import parse_config
    from tests.fakes import Behaviour, FakeClock, RecordingProgress
    from tests.functional import conftest as fx
    from tests.functional.test_release_moto import build_web

    def reset():
        urllib.request.urlopen(urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/reset", method="POST")).read()

    def setup_spec(tmp: Path) -> Path:
        ec2 = fx.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
        fx.client("route53").create_hosted_zone(Name="example.com", CallerReference="bench")
        text = changed((ROOT / "examples" / "deployer.yaml").read_text(), {
            ("defaults", "network", "vpc"): vpc, ("defaults", "network", "subnets"): [a, b]})
        path = tmp / "deployer.yaml"
        path.write_text(text)
        return path

    def journal_for() -> DynamoJournal:
        ddb = fx.client("dynamodb")
        ddb.create_table(TableName="records", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
        return DynamoJournal(Table(ddb, "records", sleep=fx.no_sleep))

    def count(service, target: ServiceTarget, journal, clock, image, steps=None, real_time=False, lease=LEASE_SECONDS):
        ecs = CountingEcs(target.ecs)
        target.ecs = ecs
        before = target.elbv2.calls + target.route53.calls
        journal_before = journal.table.calls
        cw_before = target.cloudwatch.calls
        settings = Settings(poll=0.2 if real_time else 2.0, lease=lease)
        executor = Executor(service, target, journal, RecordingProgress(), clock=clock if not real_time else time.time,
                            sleep=clock.sleep if not real_time else time.sleep, settings=settings)
        try:
            record = releases.release(executor, request_from_spec(service, image, steps=steps), actor="bench")
        except RolledBack:
            record = journal.latest(service.name)
        return record, {"elbv2/route53": target.elbv2.calls + target.route53.calls - before, "ecs": ecs.requests,
                        "cloudwatch": target.cloudwatch.calls - cw_before, "journal": journal.table.calls - journal_before}

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, image, steps, behaviour, lease in (
            ("canary 10/25/50/100, good", "example/web:2", None, Behaviour(0.01, 90), LEASE_SECONDS),
            ("  the same, 60 s lease (before)", "example/web:2", None, Behaviour(0.01, 90), 60.0),
            ("canary, bad at 10%", "example/web:3", None, Behaviour(0.20, 90), LEASE_SECONDS),
            ("bluegreen (ALB), good", "example/web:2", [100], Behaviour(0.01, 90), LEASE_SECONDS),
        ):
            reset()
            spec = setup_spec(Path(tmp))
            clock = FakeClock()
            service, target, _ = build_web(spec, clock, {image: behaviour})
            started = clock()
            record, calls = count(service, target, journal_for(), clock, image, steps, lease=lease)
            rows.append((f"{label} [{clock() - started:.0f} s]", record.state, calls))

        # rolling, 2 tasks, one target group
        reset()
        spec = setup_spec(Path(tmp))
        clock = FakeClock()
        from tests.fakes import FakeEcsAdapter
        from deployer.aws.elbv2 import Elbv2
        from deployer.aws.route53 import Route53
        from tests.fakes import FakeCloudWatchAdapter

        config = parse_config(changed(spec.read_text(), {("services", "worker-web", "desired_count"): 2}))
        worker = config.services["worker-web"]
        elbv2 = fx.client("elbv2")
        vpc = fx.client("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
        tg = elbv2.create_target_group(Name="worker", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        td = "arn:aws:ecs:us-east-1:123456789012:task-definition/worker-web:1"
        ecs = FakeEcsAdapter(elbv2, {"worker-web": tg}, {td: "example/worker-web:1"})
        ecs.create("worker-web", td, 2)
        outputs = {"ClusterName": "demo", "TaskDefinitionArn": td, "ServiceName": "worker-web", "TargetGroupArn": tg,
                   "TargetGroupFullName": tg.rsplit(":", 1)[1], "LoadBalancerFullName": "app/worker/0", "ListenerArn": ""}
        cw = FakeCloudWatchAdapter(lambda: {tg.rsplit(":", 1)[1]: 100}, lambda g: "any", clock)
        target = ServiceTarget(worker, outputs, ecs, Elbv2(elbv2), Route53(fx.client("route53")), cw)
        record, calls = count(worker, target, journal_for(), clock, "example/worker-web:2")
        rows.append(("rolling 2 tasks (50/100)", record.state, calls))

        # restore time, in real time: a bad canary with short windows
        reset()
        spec = setup_spec(Path(tmp))
        fast = changed(spec.read_text(), {("services", "web", "release", "bake"): "3s",
                                          ("services", "web", "release", "gates", "period"): "1s",
                                          ("services", "web", "release", "gates", "min_requests"): 50})
        spec.write_text(fast)
        service, target, _ = build_web(spec, time.time, {"example/web:3": Behaviour(0.20, 90)})
        target.cloudwatch.rps = 400
        record, _ = count(service, target, journal_for(), None, "example/web:3", real_time=True)
        restore = report(record)["restore_seconds"]

    print("AWS requests per release (moto over HTTP; ECS and GetMetricData counted as the real adapter sends them)")
    print(f"  {'release [duration]':<38} {'outcome':<12} {'elbv2/r53':>9} {'ecs':>5} {'cloudwatch':>10} {'AWS work':>9} {'journal':>8} {'total':>6}")
    for label, state, calls in rows:
        work = calls["elbv2/route53"] + calls["ecs"] + calls["cloudwatch"]
        print(f"  {label:<38} {state:<12} {calls['elbv2/route53']:>9} {calls['ecs']:>5} {calls['cloudwatch']:>10} {work:>9} "
              f"{calls['journal']:>8} {work + calls['journal']:>6}")
    print("AWS work: the release's own requests; journal: the lock, its heartbeats and the release record (DynamoDB).")
    print("No other deployment tool is measured in this run (none installed here); no comparison is printed.")
    print(f"time from FAIL verdict to weights read back on the stable color: {restore:.3f} s (real time, moto over HTTP)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
