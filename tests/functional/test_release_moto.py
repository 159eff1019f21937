"""Releases against a moto server: ALB weights and Route53 records really move and are read back,
the lock and the records live in DynamoDB. ECS and the p99 metric are fakes at the adapter
interface (moto never moves a deployment and answers p99 with HTTP 500)."""

from __future__ import annotations

import json
import random
import threading

import pytest
from botocore.awsrequest import AWSResponse

from deployer.aws.dynamodb import Table
from deployer.aws.elbv2 import Elbv2
from deployer.aws.route53 import Route53
from deployer.errors import Locked, RolledBack
from deployer.provision.service import bootstrap, provision
from deployer.release import record as states
from deployer.release import service as releases
from deployer.release.executor import Executor, Settings
from deployer.release.journal import DynamoJournal, LostLock
from deployer.release.strategies import request_from_spec
from deployer.release.record import ReleaseRecord
from deployer.release.target import ServiceTarget
from deployer.spec import load_config
from deployer.synth import names
from tests.fakes import Behaviour, FakeClock, FakeCloudWatchAdapter, FakeEcsAdapter, RecordingProgress
from tests.functional.conftest import client, no_sleep

TD1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"


@pytest.fixture
def journal(observer, progress):
    bootstrap(observer.cloudformation, progress)
    table = observer.cloudformation.outputs(names.BOOTSTRAP_STACK)[names.RECORDS_TABLE_OUTPUT]
    return DynamoJournal(Table(client("dynamodb"), table, sleep=no_sleep))


def build_web(spec_path, clock, behaviour, crashing=()):
    """web's load balancing made through the ELBv2 API (moto's CloudFormation cannot make a weighted listener)."""
    elbv2, ec2 = client("elbv2"), client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]
    tgs = {c: elbv2.create_target_group(Name=f"web-{c}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
           for c in ("blue", "green")}
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tgs["blue"], "Weight": 100}, {"TargetGroupArn": tgs["green"], "Weight": 0}]}}])
    test = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=8080,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs["green"]}])
    full = {c: arn.rsplit(":", 1)[1] for c, arn in tgs.items()}
    outputs = {
        "ClusterName": "demo", "TaskDefinitionArn": TD1,
        "BlueServiceName": "web-blue", "GreenServiceName": "web-green",
        "BlueTargetGroupArn": tgs["blue"], "GreenTargetGroupArn": tgs["green"],
        "BlueTargetGroupFullName": full["blue"], "GreenTargetGroupFullName": full["green"],
        "LoadBalancerFullName": lb["LoadBalancerArn"].split(":loadbalancer/")[1],
        "ListenerArn": listener["Listeners"][0]["ListenerArn"], "TestListenerArn": test["Listeners"][0]["ListenerArn"],
    }
    ecs = FakeEcsAdapter(elbv2, {"web-blue": tgs["blue"], "web-green": tgs["green"]}, {TD1: "example/web:1"}, crashing)
    ecs.create("web-blue", TD1, 2)
    ecs.create("web-green", TD1, 0)
    elb_adapter = Elbv2(elbv2, sleep=no_sleep)
    service = load_config(spec_path).services["web"]

    def weights_by_group():
        by_arn = elb_adapter.forward_weights(outputs["ListenerArn"])
        return {arn.rsplit(":", 1)[1]: w for arn, w in by_arn.items()}

    def image_of(group_full_name):
        color = "blue" if group_full_name == full["blue"] else "green"
        return ecs.task_definitions[ecs.services_state[f"web-{color}"]["td"]]

    cloudwatch = FakeCloudWatchAdapter(weights_by_group, image_of, clock, rps=400, behaviour=behaviour)
    target = ServiceTarget(service, outputs, ecs, elb_adapter, Route53(client("route53"), sleep=no_sleep), cloudwatch)
    return service, target, ecs


def executor_for(service, target, journal, clock):
    return Executor(service, target, journal, RecordingProgress(), clock=clock, sleep=clock.sleep, settings=Settings(poll=2.0, lease=30.0))


def listener_weights(target) -> dict[str, int]:
    return target.weights()


def test_canary_moves_real_listener_weights_and_records_every_step(spec_path, journal):
    clock = FakeClock()
    service, target, ecs = build_web(spec_path, clock, {"example/web:2": Behaviour(0.01, 90)})
    record = releases.release(executor_for(service, target, journal, clock), request_from_spec(service, "example/web:2"), actor="ci#1")
    assert record.state == states.RELEASED
    assert listener_weights(target) == {"blue": 0, "green": 100}
    assert target.healthy("green") == 2
    stored = journal.load("web", record.id)
    assert stored.state == states.RELEASED and stored.to_revision.endswith("web:2")
    started = [e["step"] for e in stored.events if e["text"].startswith("start ")]
    assert started == list(range(len(stored.plan["steps"])))  # every step is in the record
    assert [h.id for h in journal.history("web")] == [record.id]
    # the test listener now reaches the previous color (idle), which is kept warm
    assert Elbv2(client("elbv2")).forward_weights(target.outputs["TestListenerArn"]) == {target.outputs["BlueTargetGroupArn"]: 1}
    assert ecs.services_state["web-blue"]["desired"] == 2


def test_bad_canary_puts_the_listener_back(spec_path, journal):
    clock = FakeClock()
    service, target, ecs = build_web(spec_path, clock, {"example/web:3": Behaviour(0.20, 90)})
    with pytest.raises(RolledBack):
        releases.release(executor_for(service, target, journal, clock), request_from_spec(service, "example/web:3"), actor="ci#2")
    assert listener_weights(target) == {"blue": 100, "green": 0}
    assert ecs.services_state["web-green"]["desired"] == 0
    stored = journal.latest("web")
    assert stored.state == states.ROLLED_BACK and stored.reason.startswith("error_rate_above_limit")
    assert any(v["outcome"] == "FAIL" and v["weight"] == 10 for v in stored.verdicts)


def test_bluegreen_over_route53_upserts_weighted_records(observer, progress, spec_path, journal):
    config = load_config(spec_path)
    api = config.services["api"]
    provision(api, observer, progress)  # moto's CloudFormation can make this one: real outputs
    elbv2 = client("elbv2")
    outputs = observer.cloudformation.outputs("deployer-api")
    clock = FakeClock()
    ecs = FakeEcsAdapter(elbv2, {"api-blue": outputs["BlueTargetGroupArn"], "api-green": outputs["GreenTargetGroupArn"]},
                         {TD1.replace("web", "api"): "example/api:1"})
    ecs.create("api-blue", TD1.replace("web", "api"), 2)
    ecs.create("api-green", TD1.replace("web", "api"), 0)
    route53 = Route53(client("route53"), sleep=no_sleep)
    zone = route53.zone_id("example.com")

    def weights_by_group():
        records = route53.weighted_records(zone, "api.example.com")
        return {outputs[f"{c.capitalize()}TargetGroupFullName"]: int(records[c]["Weight"]) for c in ("blue", "green")}

    cloudwatch = FakeCloudWatchAdapter(weights_by_group, lambda tg: "any", clock, rps=40)
    target = ServiceTarget(api, outputs, ecs, Elbv2(elbv2, sleep=no_sleep), route53, cloudwatch, zone)
    record = releases.release(executor_for(api, target, journal, clock), request_from_spec(api, "example/api:2"), actor="ci#3")
    assert record.state == states.RELEASED
    records = route53.weighted_records(zone, "api.example.com")
    assert {c: r["Weight"] for c, r in records.items()} == {"blue": 0, "green": 100}
    assert {r["TTL"] for r in records.values()} == {30}
    with pytest.raises(Exception, match="outside 0..255"):
        route53.set_weights(zone, "api.example.com", {"blue": 256})


def test_two_releases_race_one_proceeds_the_other_is_locked(journal):
    results = {}
    barrier = threading.Barrier(2)

    def take(name):
        barrier.wait()
        try:
            results[name] = journal.acquire("web", name, f"release-{name}", 1000.0, 60)
        except Locked as exc:
            results[name] = exc

    threads = [threading.Thread(target=take, args=(n,)) for n in ("jenkins#7", "github#9")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winners = [n for n, r in results.items() if not isinstance(r, Locked)]
    losers = [r for r in results.values() if isinstance(r, Locked)]
    assert len(winners) == 1 and len(losers) == 1
    assert f"locked by {winners[0]} (release release-{winners[0]})" in losers[0].message
    assert losers[0].exit_code == 6


def test_expired_lease_is_taken_over_and_the_stale_holder_is_fenced(journal):
    first = journal.acquire("web", "runner-a", "r-a", 1000.0, 30)
    journal.save(ReleaseRecord(id="r-a", service="web", strategy="canary", image="x", actor="runner-a", started_at=1000.0, plan={}, fence=first.token))
    with pytest.raises(Locked):
        journal.acquire("web", "runner-b", "r-b", 1010.0, 30)
    second = journal.acquire("web", "runner-b", "r-b", 1031.0, 30)  # a's lease expired at 1030
    assert second.token == first.token + 1
    with pytest.raises(LostLock):
        journal.heartbeat(first, 1032.0, 30)
    taken = journal.load("web", "r-a")
    taken.fence = second.token
    journal.save(taken)  # the new holder may write the old record (resume)
    stale = ReleaseRecord(id="r-a", service="web", strategy="canary", image="x", actor="runner-a", started_at=1000.0, plan={}, fence=first.token)
    with pytest.raises(LostLock):
        journal.save(stale)
    journal.release(first)  # not ours any more: a no-op
    assert journal.holder("web").holder == "runner-b"


def test_release_survives_throttling_and_5xx_on_10_percent_of_calls(spec_path, journal):
    """Faults injected into 10% of the AWS calls: the release completes or rolls back cleanly."""
    clock = FakeClock()
    service, target, ecs = build_web(spec_path, clock, {"example/web:2": Behaviour(0.01, 90)})
    rng = random.Random(7)
    injected = {"n": 0}

    def inject(**kwargs):
        if rng.random() < 0.10:
            injected["n"] += 1
            if rng.random() < 0.5:
                json_protocol = "X-Amz-Target" in kwargs["request"].headers
                body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}' if json_protocol else (
                    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>")
                return AWSResponse(kwargs["request"].url, 400, {}, _Raw(body))
            return AWSResponse(kwargs["request"].url, 503, {}, _Raw(b"Service Unavailable"))
        return None

    for c in (target.elbv2.client, target.route53.client, journal.table.client):
        c.meta.events.register("before-send", inject)
    try:
        try:
            record = releases.release(executor_for(service, target, journal, clock), request_from_spec(service, "example/web:2"), actor="ci#4")
            outcome = record.state
        except RolledBack:
            outcome = journal.latest("web").state
    finally:
        for c in (target.elbv2.client, target.route53.client, journal.table.client):
            c.meta.events.unregister("before-send", inject)
    assert injected["n"] >= 5
    assert outcome in (states.RELEASED, states.ROLLED_BACK)
    weights = listener_weights(target)
    assert sorted(weights.values()) == [0, 100]
    assert journal.holder("web") is None


class _Raw:
    """The raw body botocore reads from an injected response."""

    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_kwargs):
        yield self.data


def test_a_300_step_release_stays_far_below_the_item_limit(journal):
    """The record is stored in parts (head, plan once, log appended): no item grows with the release.
    A 100-weight canary is 307 steps; written whole, its record was 221 KB of DynamoDB's 400 KB."""
    from deployer.release.plan import ReleaseRequest
    from tests.conftest import EXAMPLES
    from tests.fakes import FakeTarget

    clock = FakeClock()
    service = load_config(EXAMPLES / "deployer.yaml").services["web"]
    gates = service.release.gates.replace(**{"min_requests": 1, "max_5xx_rate": 50.0})
    service = service.replace(**{"release": service.release.replace(**{"gates": gates})})
    target = FakeTarget.colors_service(clock, behaviour={"example/web:2": Behaviour(0.0, 100)})
    runner = Executor(service, target, journal, RecordingProgress(), clock=clock, sleep=clock.sleep, settings=Settings(poll=2.0))
    request = ReleaseRequest(image="example/web:2", strategy="canary", steps=tuple(range(1, 101)), bake=0, keep_previous=0)
    record = releases.release(runner, request, actor="long")
    assert record.state == states.RELEASED and len(record.plan["steps"]) >= 300

    items = client("dynamodb").scan(TableName=journal.table.table)["Items"]
    sizes = {item["sk"]["S"].split("#")[0]: 0 for item in items}
    for item in items:
        kind = item["sk"]["S"].split("#")[0]
        sizes[kind] = max(sizes[kind], sum(len(str(v)) for v in item.values()))
    assert max(sizes.values()) < 40_000, sizes  # a tenth of the 400 KB limit
    again = journal.load("web", record.id)
    assert (len(again.events), len(again.verdicts)) == (len(record.events), len(record.verdicts))
    assert again.plan == json.loads(json.dumps(record.plan)) and again.events == record.events
