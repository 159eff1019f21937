"""Which task is behind which target: Ecs.service_tasks and Elbv2.target_states on fake clients.

The fakes check every request's parameters against botocore's model, and answer the way ECS does
for EC2 tasks (bridge networking: dynamic host ports in networkBindings), which moto does not.
"""

from __future__ import annotations

import dataclasses

import pytest
from botocore import xform_name
from botocore.session import get_session
from botocore.validate import ParamValidator

from deployer.aws.ecs import Ecs, TaskInfo
from deployer.aws.elbv2 import Elbv2, TargetState

SESSION = get_session()
ACCOUNT = "arn:aws:ecs:us-east-1:123456789012"


class ModelChecked:
    """A fake client: `answer(operation, params)` per request, parameters validated first."""

    service = ""

    def __init__(self):
        self.model = SESSION.get_service_model(self.service)
        self.operations = {xform_name(n): n for n in self.model.operation_names}
        self.sent: list[tuple[str, dict]] = []

    def __getattr__(self, operation):
        if operation not in self.operations:
            raise AttributeError(operation)

        def call(**params):
            report = ParamValidator().validate(params, self.model.operation_model(self.operations[operation]).input_shape)
            assert not report.has_errors(), report.generate_report()
            self.sent.append((operation, params))
            return getattr(self, "answer_" + operation)(**params)

        return call

    def count(self, operation):
        return sum(1 for op, _ in self.sent if op == operation)


class FakeEcs(ModelChecked):
    service = "ecs"

    def __init__(self, tasks: list[dict], instances: dict[str, str], definitions: dict[str, dict], page: int = 100):
        super().__init__()
        self.tasks = {t["taskArn"]: t for t in tasks}
        self.instances = instances  # container instance ARN -> EC2 instance id
        self.definitions = definitions
        self.page = page  # ListTasks page size, to exercise nextToken

    def answer_list_tasks(self, cluster, serviceName, desiredStatus, maxResults=100, nextToken=None):
        arns = [a for a, t in self.tasks.items() if t["group"] == f"service:{serviceName}" and t["desiredStatus"] == desiredStatus]
        start = int(nextToken or 0)
        size = min(maxResults, self.page)
        out = {"taskArns": arns[start:start + size]}
        if start + size < len(arns):
            out["nextToken"] = str(start + size)
        return out

    def answer_describe_tasks(self, cluster, tasks):
        assert len(tasks) <= 100  # AWS: "tasks: up to 100"
        return {"tasks": [self.tasks[a] for a in tasks if a in self.tasks], "failures": []}

    def answer_describe_container_instances(self, cluster, containerInstances):
        assert len(containerInstances) <= 100
        return {"containerInstances": [{"containerInstanceArn": a, "ec2InstanceId": self.instances[a]} for a in containerInstances],
                "failures": []}

    def answer_describe_task_definition(self, taskDefinition):
        return {"taskDefinition": self.definitions[taskDefinition]}


def bridge_task(n: int, instance: str, host_ports: list[int], revision: int = 2, service: str = "web-blue") -> dict:
    return {
        "taskArn": f"{ACCOUNT}:task/demo/b{n:04d}", "taskDefinitionArn": f"{ACCOUNT}:task-definition/web:{revision}",
        "group": f"service:{service}", "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "launchType": "EC2",
        "containerInstanceArn": f"{ACCOUNT}:container-instance/demo/{instance}", "attachments": [],
        "containers": [{"name": "web", "networkBindings": [
            {"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": port, "protocol": "tcp"} for port in host_ports]}],
    }


def awsvpc_task(n: int, ip: str, revision: int = 2, in_attachment: bool = True, service: str = "web-blue") -> dict:
    eni = {"id": f"att-{n}", "type": "ElasticNetworkInterface", "status": "ATTACHED",
           "details": [{"name": "subnetId", "value": "subnet-1"}, {"name": "networkInterfaceId", "value": f"eni-{n}"}]
           + ([{"name": "privateIPv4Address", "value": ip}] if in_attachment else [])}
    return {
        "taskArn": f"{ACCOUNT}:task/demo/a{n:04d}", "taskDefinitionArn": f"{ACCOUNT}:task-definition/web:{revision}",
        "group": f"service:{service}", "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "launchType": "FARGATE",
        "attachments": [eni],
        "containers": [{"name": "web", "networkBindings": [],
                        "networkInterfaces": [] if in_attachment else [{"attachmentId": f"att-{n}", "privateIpv4Address": ip}]}],
    }


def definition(revision: int, network_mode: str, mappings: list[dict]) -> dict:
    return {"taskDefinitionArn": f"{ACCOUNT}:task-definition/web:{revision}", "family": "web", "revision": revision,
            "networkMode": network_mode, "containerDefinitions": [{"name": "web", "image": "x", "portMappings": mappings}]}


def test_bridge_tasks_are_reached_on_their_instance_and_host_port():
    instances = {f"{ACCOUNT}:container-instance/demo/ci-{k}": f"i-0{k}" for k in range(2)}
    tasks = [bridge_task(1, "ci-0", [32768]), bridge_task(2, "ci-1", [32769]), bridge_task(3, "ci-0", [32770, 32771], revision=1),
             bridge_task(4, "ci-1", [32772], service="web-green")]
    client = FakeEcs(tasks, instances, {})
    e = Ecs(client, sleep=lambda s: None)
    found = e.service_tasks("demo", "web-blue")
    assert found == [
        TaskInfo(f"{ACCOUNT}:task/demo/b0001", f"{ACCOUNT}:task-definition/web:2", "RUNNING", "RUNNING", (("i-00", 32768),)),
        TaskInfo(f"{ACCOUNT}:task/demo/b0002", f"{ACCOUNT}:task-definition/web:2", "RUNNING", "RUNNING", (("i-01", 32769),)),
        TaskInfo(f"{ACCOUNT}:task/demo/b0003", f"{ACCOUNT}:task-definition/web:1", "RUNNING", "RUNNING", (("i-00", 32770), ("i-00", 32771))),
    ]
    # ListTasks + DescribeTasks + one DescribeContainerInstances for both instances; no task definition needed
    assert [op for op, _ in client.sent] == ["list_tasks", "describe_tasks", "describe_container_instances"] and e.calls == 3
    assert client.sent[0][1] == {"cluster": "demo", "serviceName": "web-blue", "desiredStatus": "RUNNING", "maxResults": 100}
    assert sorted(client.sent[2][1]["containerInstances"]) == sorted(instances)


def test_awsvpc_tasks_are_reached_on_their_ip_and_container_port():
    tasks = [awsvpc_task(1, "10.0.1.10"), awsvpc_task(2, "10.0.1.11", in_attachment=False), awsvpc_task(3, "10.0.2.12", revision=1)]
    definitions = {f"{ACCOUNT}:task-definition/web:{r}": definition(r, "awsvpc", [{"containerPort": 8080 + r, "protocol": "tcp"}])
                   for r in (1, 2)}
    client = FakeEcs(tasks, {}, definitions)
    e = Ecs(client, sleep=lambda s: None)
    assert [(t.arn.rsplit("/", 1)[-1], t.addresses) for t in e.service_tasks("demo", "web-blue")] == [
        ("a0001", (("10.0.1.10", 8082),)), ("a0002", (("10.0.1.11", 8082),)), ("a0003", (("10.0.2.12", 8081),))]
    # the container port is only in the task definition: one DescribeTaskDefinition per distinct revision
    assert [op for op, _ in client.sent] == ["list_tasks", "describe_tasks", "describe_task_definition", "describe_task_definition"]
    assert e.calls == 4


def test_host_networking_without_bindings_uses_the_mapped_port_and_dynamic_bridge_ports_stay_unknown():
    instances = {f"{ACCOUNT}:container-instance/demo/ci-0": "i-00"}
    host, pending_bridge = bridge_task(1, "ci-0", []), bridge_task(2, "ci-0", [], revision=3)
    host["containers"][0].pop("networkBindings")
    pending_bridge["containers"][0].pop("networkBindings")
    definitions = {f"{ACCOUNT}:task-definition/web:2": definition(2, "host", [{"containerPort": 8080}]),
                   f"{ACCOUNT}:task-definition/web:3": definition(3, "bridge", [{"containerPort": 8080, "hostPort": 0}])}
    e = Ecs(FakeEcs([host, pending_bridge], instances, definitions), sleep=lambda s: None)
    assert [t.addresses for t in e.service_tasks("demo", "web-blue")] == [(("i-00", 8080),), ()]


def test_hundreds_of_tasks_are_paged_and_described_in_batches_of_100():
    tasks = [awsvpc_task(n, f"10.0.{n // 200}.{n % 200 + 1}") for n in range(250)]
    for t in tasks:  # a task reporting its port: no task definition needed
        t["containers"][0]["networkBindings"] = [{"containerPort": 8080, "hostPort": 8080}]
    client = FakeEcs(tasks, {}, {}, page=100)
    e = Ecs(client, sleep=lambda s: None)
    found = e.service_tasks("demo", "web-blue")
    assert len(found) == 250 and len({t.addresses for t in found}) == 250
    assert client.count("list_tasks") == 3 and client.count("describe_tasks") == 3 and e.calls == 6
    assert [len(p["tasks"]) for op, p in client.sent if op == "describe_tasks"] == [100, 100, 50]
    assert [p.get("nextToken") for op, p in client.sent if op == "list_tasks"] == [None, "100", "200"]


def test_a_service_without_tasks_costs_one_request():
    client = FakeEcs([], {}, {})
    e = Ecs(client, sleep=lambda s: None)
    assert e.service_tasks("demo", "web-blue") == [] and e.calls == 1


class FakeElbv2(ModelChecked):
    service = "elbv2"

    def __init__(self, descriptions):
        super().__init__()
        self.descriptions = descriptions

    def answer_describe_target_health(self, TargetGroupArn):
        return {"TargetHealthDescriptions": self.descriptions}


def test_target_states_report_every_target_with_its_reason():
    client = FakeElbv2([
        {"Target": {"Id": "10.0.1.10", "Port": 8080, "AvailabilityZone": "us-east-1a"}, "HealthCheckPort": "8080",
         "TargetHealth": {"State": "healthy"}},
        {"Target": {"Id": "i-00", "Port": 32768}, "HealthCheckPort": "traffic-port",
         "TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch", "Description": "Health checks failed with these codes: [502]"}},
        {"Target": {"Id": "10.0.1.11", "Port": 8080}, "TargetHealth": {"State": "draining", "Reason": "Target.DeregistrationInProgress"}},
    ])
    e = Elbv2(client, sleep=lambda s: None)
    assert e.target_states("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/1") == [
        TargetState("10.0.1.10", 8080, "healthy", ""),
        TargetState("i-00", 32768, "unhealthy", "Target.ResponseCodeMismatch"),
        TargetState("10.0.1.11", 8080, "draining", "Target.DeregistrationInProgress"),
    ]
    assert e.calls == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        TargetState("a", 1, "healthy").state = "unhealthy"
