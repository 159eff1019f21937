"""The fault-injection proxy (tests/harness/fault_proxy.py) in front of a plain moto server:
each kind of fault is seen by boto3 the way the same fault from AWS would be."""

from __future__ import annotations

import socket
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from deployer.aws.base import THROTTLING_CODES, is_transient
from tests.functional.conftest import REGION
from tests.harness.fault_proxy import FaultProxy, Match, Nth, Rule, identify

ONE_TRY = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)


def via(proxy: FaultProxy, name: str, config: Config = ONE_TRY):
    return boto3.client(name, region_name=REGION, endpoint_url=proxy.url, config=config)


def direct(endpoint: str, name: str):
    return boto3.client(name, region_name=REGION, endpoint_url=endpoint)


@pytest.fixture
def proxy_for(aws):
    started = []

    def make(*rules, seed=1, **kwargs) -> FaultProxy:
        proxy = FaultProxy(aws, list(rules), seed=seed, **kwargs).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


def table(client, name="records"):
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    return name


TASK = {"family": "web", "containerDefinitions": [{"name": "web", "image": "example/web:1", "memory": 128}]}


# ------------------------------------------------------------------------------------------ rules
def test_rules_are_read_from_text():
    rule = Rule.parse("fail dynamodb:PutItem #3-8 after elbv2:ModifyListener#2 status=500")
    assert rule.kind == "fail" and rule.match == Match("dynamodb", "PutItem") and rule.status == 500
    assert [n in rule.nth for n in (2, 3, 8, 9)] == [False, True, True, False]
    assert rule.after == (Match("elbv2", "ModifyListener"), 2)
    assert str(rule) == "fail dynamodb:PutItem #3-8 after elbv2:ModifyListener#2 status=500"
    assert str(Rule.parse("stall elasticloadbalancing:DescribeTargetHealth 30% 3s")) == "stall elbv2:DescribeTargetHealth 30% 3s"
    assert 1000 in Rule.parse("throttle * #5-").nth and 4 not in Rule.parse("throttle * #5-").nth
    assert Rule.parse("drop_after UpdateService #1").match == Match(None, "UpdateService")
    assert Rule.parse("stall * 1% 600s").seconds == 60.0, "a stall is bounded"
    for bad in ("explode * 10%", "throttle *", "throttle * 10% colour=red", "fail * #0", "throttle * 150%"):
        with pytest.raises(ValueError):
            Rule.parse(bad)


def test_operations_match_in_either_spelling():
    call = identify("POST", "/", {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
                                  "Content-Type": "application/x-amz-json-1.1"}, b"{}")
    assert (call.service, call.operation, call.protocol) == ("ecs", "RegisterTaskDefinition", "json")
    assert Match.parse("ecs:register_task_definition")(call) and Match.parse("*")(call) and Match.parse("ecs:*")(call)
    assert not Match.parse("dynamodb:*")(call) and not Match(operation="UpdateService")(call)


def test_refuses_an_upstream_off_loopback():
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://10.1.2.3:4566")
    with pytest.raises(ValueError):
        FaultProxy("https://ecs.us-east-1.amazonaws.com")


# ------------------------------------------------------------------------------------------ naming calls
def test_every_call_is_named_by_service_and_operation(proxy_for):
    proxy = proxy_for()
    via(proxy, "ecs").list_clusters()
    via(proxy, "dynamodb").list_tables()
    via(proxy, "elbv2").describe_load_balancers()
    via(proxy, "cloudwatch").list_metrics()
    via(proxy, "cloudformation").list_stacks()
    via(proxy, "ec2").describe_vpcs()
    route53 = via(proxy, "route53")
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"]["Id"].split("/")[-1]
    route53.list_hosted_zones_by_name(DNSName="example.com.")
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": "a.example.com.", "Type": "A", "TTL": 5, "ResourceRecords": [{"Value": "10.0.0.1"}]}}]})
    route53.list_resource_record_sets(HostedZoneId=zone)
    seen = [(c.service, c.operation, c.fault, c.status) for c in proxy.log()]
    assert [(s, o) for s, o, _, _ in seen] == [
        ("ecs", "ListClusters"), ("dynamodb", "ListTables"), ("elbv2", "DescribeLoadBalancers"), ("cloudwatch", "ListMetrics"),
        ("cloudformation", "ListStacks"), ("ec2", "DescribeVpcs"), ("route53", "CreateHostedZone"),
        ("route53", "ListHostedZonesByName"), ("route53", "ChangeResourceRecordSets"), ("route53", "ListResourceRecordSets"),
    ]
    assert all(fault is None and status in (200, 201) for _, _, fault, status in seen), seen
    assert proxy.summary()["calls"] == 10 and proxy.summary()["faults"] == {}


# ------------------------------------------------------------------------------------------ throttle
THROTTLED = [
    # (client, call, expected code, expected status)
    ("ecs", lambda c: c.create_cluster(clusterName="throttled"), "ThrottlingException", 400),
    ("dynamodb", lambda c: c.list_tables(), "ThrottlingException", 400),
    ("elbv2", lambda c: c.describe_load_balancers(), "Throttling", 400),
    ("cloudwatch", lambda c: c.get_metric_data(MetricDataQueries=[], StartTime=time.time() - 60, EndTime=time.time()), "Throttling", 400),
    ("cloudformation", lambda c: c.describe_stacks(), "Throttling", 400),
    ("route53", lambda c: c.list_hosted_zones(), "Throttling", 400),
    ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded", 503),
]


@pytest.mark.parametrize("service,call,code,status", THROTTLED, ids=[t[0] for t in THROTTLED])
def test_throttle_is_each_protocols_throttling_error(proxy_for, service, call, code, status):
    proxy = proxy_for(f"throttle {service}:* #1")
    with pytest.raises(ClientError) as caught:
        call(via(proxy, service))
    error = caught.value.response
    assert error["Error"]["Code"] == code and error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert code in THROTTLING_CODES and is_transient(caught.value), "deployer's adapters take it for throttling"
    call(via(proxy, service))  # the second call goes through
    assert [c.fault for c in proxy.log()] == ["throttle", None]


def test_throttled_dynamodb_item_call_is_provisioned_throughput_exceeded_and_not_done(proxy_for, aws):
    name = table(direct(aws, "dynamodb"))
    proxy = proxy_for("throttle dynamodb:PutItem #1")
    with pytest.raises(ClientError) as caught:
        via(proxy, "dynamodb").put_item(TableName=name, Item={"pk": {"S": "a"}})
    assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert "Item" not in direct(aws, "dynamodb").get_item(TableName=name, Key={"pk": {"S": "a"}}), "never forwarded"


def test_a_throttled_register_task_definition_registers_nothing(proxy_for, aws):
    proxy = proxy_for("throttle ecs:RegisterTaskDefinition #1", "throttle dynamodb:* #1 code=ThrottlingException")
    with pytest.raises(ClientError) as caught:
        via(proxy, "ecs").register_task_definition(**TASK)
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert direct(aws, "ecs").list_task_definitions()["taskDefinitionArns"] == []
    with pytest.raises(ClientError) as caught:
        via(proxy, "dynamodb").list_tables()
    assert caught.value.response["Error"]["Code"] == "ThrottlingException", "code= overrides the default"


# ------------------------------------------------------------------------------------------ fail
@pytest.mark.parametrize("service,call", [
    ("ecs", lambda c: c.create_cluster(clusterName="failed")),
    ("elbv2", lambda c: c.describe_target_health(TargetGroupArn="arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1")),
    ("dynamodb", lambda c: c.list_tables()),
    ("route53", lambda c: c.list_hosted_zones()),
    ("cloudwatch", lambda c: c.list_metrics()),
], ids=["ecs", "elbv2", "dynamodb", "route53", "cloudwatch"])
@pytest.mark.parametrize("status,code", [(503, "ServiceUnavailable"), (500, None)], ids=["503", "500"])
def test_fail_is_a_server_error_and_not_forwarded(proxy_for, aws, service, call, status, code):
    proxy = proxy_for(f"fail {service}:* #1 status={status}")
    with pytest.raises(ClientError) as caught:
        call(via(proxy, service))
    error = caught.value.response
    expected = code or ("InternalServerError" if service == "dynamodb" else "InternalFailure")
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status and error["Error"]["Code"] == expected
    assert is_transient(caught.value)
    if service == "ecs":
        assert direct(aws, "ecs").list_clusters()["clusterArns"] == [], "never forwarded"


# ------------------------------------------------------------------------------------------ drops
def test_drop_before_closes_the_connection_and_nothing_happens(proxy_for, aws):
    proxy = proxy_for("drop_before ecs:RegisterTaskDefinition #1")
    with pytest.raises(ConnectionClosedError) as caught:
        via(proxy, "ecs").register_task_definition(**TASK)
    assert is_transient(caught.value)
    assert direct(aws, "ecs").list_task_definitions()["taskDefinitionArns"] == []
    assert [(c.fault, c.status) for c in proxy.log()] == [("drop_before", None)]


def test_drop_after_closes_the_connection_but_the_call_was_done(proxy_for, aws):
    name = table(direct(aws, "dynamodb"))
    proxy = proxy_for("drop_after dynamodb:PutItem #1", "drop_after ecs:RegisterTaskDefinition #1")
    with pytest.raises(ConnectionClosedError):
        via(proxy, "dynamodb").put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
    assert direct(aws, "dynamodb").get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"]["v"] == {"S": "1"}
    with pytest.raises(ConnectionClosedError):
        via(proxy, "ecs").register_task_definition(**TASK)
    assert len(direct(aws, "ecs").list_task_definitions()["taskDefinitionArns"]) == 1, "registered, though the client never heard"
    # the classic consequence: a conditional write retried after a drop_after meets its own write
    with pytest.raises(ClientError) as caught:
        via(proxy, "dynamodb").put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"S": "1"}}, ConditionExpression="attribute_not_exists(pk)")
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


# ------------------------------------------------------------------------------------------ stall
def test_stall_holds_the_call_then_forwards_it(proxy_for, aws):
    proxy = proxy_for("stall ecs:CreateCluster #1 1s")
    started = time.monotonic()
    via(proxy, "ecs").create_cluster(clusterName="slow")
    assert 1.0 <= time.monotonic() - started < 5
    assert [(c.fault, c.status) for c in proxy.log()] == [("stall", 200)]


def test_a_stall_past_the_clients_timeout_is_a_read_timeout_and_still_happens(proxy_for, aws):
    proxy = proxy_for("stall ecs:CreateCluster #1 1.5s")
    impatient = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=0.5)
    with pytest.raises(ReadTimeoutError) as caught:
        via(proxy, "ecs", impatient).create_cluster(clusterName="late")
    assert is_transient(caught.value)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not direct(aws, "ecs").list_clusters()["clusterArns"]:
        time.sleep(0.1)
    assert any(arn.endswith("/late") for arn in direct(aws, "ecs").list_clusters()["clusterArns"])


# ------------------------------------------------------------------------------------------ which calls
def test_nth_calls_and_rules_armed_by_another_call(proxy_for, aws):
    name = table(direct(aws, "dynamodb"))
    proxy = proxy_for("throttle ecs:ListClusters #2-3", "fail dynamodb:PutItem #1-2 after dynamodb:GetItem#1")
    ecs, dynamodb = via(proxy, "ecs"), via(proxy, "dynamodb")
    outcomes = []
    for _ in range(4):
        try:
            ecs.list_clusters()
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    assert outcomes == ["ok", "ThrottlingException", "ThrottlingException", "ok"]
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "before"}})  # not armed yet
    dynamodb.get_item(TableName=name, Key={"pk": {"S": "before"}})  # arms it
    for _ in range(2):
        with pytest.raises(ClientError):
            dynamodb.put_item(TableName=name, Item={"pk": {"S": "after"}})
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "after"}})
    assert proxy.summary()["rules"] == {"throttle ecs:ListClusters #2-3": 2,
                                        "fail dynamodb:PutItem #1-2 after dynamodb:GetItem#1": 2}


def pattern(proxy: FaultProxy, n: int = 40) -> list[bool]:
    ecs = via(proxy, "ecs")
    out = []
    for _ in range(n):
        try:
            ecs.list_clusters()
            out.append(False)
        except (ClientError, ConnectionClosedError):
            out.append(True)
    return out


def test_probabilities_come_from_a_seeded_rng(proxy_for):
    first = pattern(proxy_for("throttle * 30%", seed=42))
    again = pattern(proxy_for("throttle * 30%", seed=42))
    other = pattern(proxy_for("throttle * 30%", seed=43))
    assert first == again and first != other
    assert 4 <= sum(first) <= 20
    limited = proxy_for("throttle * 50% limit=3", seed=1)
    assert sum(pattern(limited, 30)) == 3


def test_summary_counts_calls_and_faults_by_kind(proxy_for, aws):
    proxy = proxy_for("throttle ecs:ListClusters #1", "fail ecs:ListClusters #2", "stall ecs:ListClusters #3 0.1s",
                      "drop_before ecs:ListClusters #4", "drop_after ecs:ListClusters #5")
    pattern(proxy, 6)
    summary = proxy.summary()
    assert summary["calls"] == 6
    assert summary["faults"] == {"throttle": 1, "fail": 1, "stall": 1, "drop_before": 1, "drop_after": 1}
    assert summary["operations"]["ecs:ListClusters"]["calls"] == 6
    assert [c.fault for c in proxy.faults()] == ["throttle", "fail", "stall", "drop_before", "drop_after"]


# ------------------------------------------------------------------------------------------ life cycle
def test_stop_is_prompt_even_with_a_stall_and_open_connections(aws, tmp_path):
    log = tmp_path / "calls.jsonl"
    proxy = FaultProxy(aws, ["stall ecs:CreateCluster #1 30s"], log_path=log).start()
    ecs = via(proxy, "ecs")
    ecs.list_clusters()  # leaves a keep-alive connection open
    errors = []

    def stalled():
        try:
            ecs.create_cluster(clusterName="never-mind")
        except Exception as exc:  # noqa: BLE001 - any outcome will do; it must not hang
            errors.append(exc)

    before = threading.active_count()
    thread = threading.Thread(target=stalled)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 3
    thread.join(timeout=10)
    assert not thread.is_alive()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", proxy.port)) != 0, "no longer listening"
    time.sleep(0.2)
    assert threading.active_count() <= before
    assert len(log.read_text().splitlines()) >= 1


def test_concurrent_calls_are_each_answered(proxy_for):
    proxy = proxy_for("stall ecs:* 100% 0.3s")
    results = []

    def one():
        results.append(len(via(proxy, "ecs").list_clusters()["clusterArns"]))

    threads = [threading.Thread(target=one) for _ in range(12)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(results) == 12
    assert time.monotonic() - started < 3, "stalls run side by side, not one after another"


def test_nth_counts_from_one():
    with pytest.raises(ValueError):
        Nth(0)


def test_cbor_errors_read_as_the_query_code():
    """CloudWatch may speak smithy RPC v2 CBOR: the proxy names the call from its path and answers
    an error botocore's CBOR parser reads as the query-compatible code."""
    from botocore.parsers import RpcV2CBORParser

    from tests.harness.fault_proxy import error_response

    call = identify("POST", "/service/GraniteServiceVersion20100801/operation/GetMetricData",
                    {"smithy-protocol": "rpc-v2-cbor", "x-amzn-query-mode": "true"}, b"\xa0")
    assert (call.service, call.operation, call.protocol, call.query_compatible) == ("cloudwatch", "GetMetricData", "cbor", True)
    for kind, code, status in (("throttle", "Throttling", 400), ("fail", "ServiceUnavailable", 503)):
        got_status, headers, body = error_response(call, kind)
        parsed = RpcV2CBORParser()._do_error_parse({"body": body, "headers": {k.lower(): v for k, v in headers.items()},
                                                     "status_code": got_status}, None)
        assert got_status == status and parsed["Error"]["Code"] == code
