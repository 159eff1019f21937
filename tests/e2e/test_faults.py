"""Releases under injected AWS faults (issue 15).

Every release runs `deployer release` with AWS_ENDPOINT_URL pointing at a fault proxy
(tests/harness/fault_proxy.py) in front of the sandbox's moto endpoint, under real traffic, with a
fault profile: a fraction of all calls throttled / failed / dropped / stalled, or faults aimed at
specific calls. Whatever the profile, each release must end

  - released (exit 0) or rolled back (exit 3); exit 4 only where the profile keeps the release
    record from being written, and then deployer must say so (and this test says it loudly);
  - with no traceback on stderr;
  - with all traffic on one color (listener or Route53 weights 100/0) whose target group has
    healthy targets, read directly from moto, not through the proxy;
  - with a true record: released -> its to_revision runs on the live color, rolled back -> its
    from_revision does, and the record names that color as live;
  - and, where the profile leaves the outcome in no doubt (a good image with faults a client can
    absorb; a bad image), with that outcome.

The cases run in lanes, one service per lane (tests/e2e/deployer.yaml: f-canary, f-canary-b, f-warm,
f-bg, f-dns, f-roll), lanes side by side, cases of a lane one after another, all up front in a
module fixture; each case is then its own test, named by its profile. A case that leaves its service
broken (traffic split, lock held, record unfinished) is repaired afterwards (directly, not through
the proxy) so that it does not fail the next case of its lane; the repair is part of its report.
The counts (calls, faults by kind) are printed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from deployer.aws.dynamodb import Table
from deployer.release.journal import DynamoJournal
from deployer.sandbox import control
from deployer.synth import names
from tests.e2e.conftest import Traffic, run, stack_outputs, wait_until
from tests.harness.fault_proxy import KINDS, FaultProxy

pytestmark = pytest.mark.e2e

RPS = 30  # traffic per lane during its release
LANE_RPS = {"f-warm": 50}  # enough for a gate to decide before the warm color's new tasks are healthy
RELEASE_TIMEOUT = 100.0  # a healthy release of these services takes 20-40 s; past this it is interrupted (SIGINT)
SETTLE = 20.0  # seconds the state may take to converge after the release returns (targets turning healthy)


@dataclass(frozen=True)
class Case:
    id: str
    service: str
    image: str
    rules: tuple[str, ...]
    expect: str  # "released" | "rolled_back" | "either"
    record_may_fail: bool = False  # the profile keeps DynamoDB writes failing: exit 4 allowed, said loudly
    seed: int = 15


GOOD = "good"
BAD_5XX, BAD_SLOW, BAD_CRASH = "example/web:3", "example/web:4", "example/web:5"  # examples/sandbox-images.yaml


def _cases() -> list[Case]:
    raw = [
        # --- canary over ALB weights, with a test listener (repointed before the first shift and after promotion)
        ("f-canary", "canary-good-throttle-10pct-of-all-calls", GOOD, ["throttle * 10%"], "released"),
        ("f-canary", "canary-good-RegisterTaskDefinition-throttled-once", GOOD, ["throttle ecs:RegisterTaskDefinition #1"], "released"),
        ("f-canary", "canary-bad5xx-fail-10pct-of-all-calls", BAD_5XX, ["fail * 10%"], "rolled_back"),
        # ModifyListener: #1 test listener -> new color, #2 25%, #3 100%, #4 test listener back after promotion
        ("f-canary", "canary-good-ModifyListener-failing-after-promotion", GOOD, ["fail elbv2:ModifyListener #4-9"], "either"),
        # record writes are TransactWriteItems (head, plan, log), heartbeats PutItem
        ("f-canary", "canary-good-record-writes-failing-6x-mid-canary", GOOD,
         ["fail dynamodb:TransactWriteItems #1-6 after elbv2:ModifyListener#2",
          "fail dynamodb:PutItem #1-6 after elbv2:ModifyListener#2"], "either"),
        # --- canary over ALB weights, no test listener
        ("f-canary-b", "canary-bad-slow-ModifyListener-failing-30pct", BAD_SLOW, ["fail elbv2:ModifyListener 30%"], "rolled_back"),
        ("f-canary-b", "canary-good-drop-after-10pct-of-all-calls", GOOD, ["drop_after * 10%"], "either"),
        ("f-canary-b", "canary-bad-crash-DescribeTargetHealth-stalled", BAD_CRASH, ["stall elbv2:DescribeTargetHealth 30% 3s"], "rolled_back"),
        ("f-canary-b", "canary-good-record-writes-failing-for-good-mid-canary", GOOD,
         ["fail dynamodb:TransactWriteItems #1- after elbv2:ModifyListener#1",
          "fail dynamodb:PutItem #1- after elbv2:ModifyListener#1"], "either", True),
        # --- canary whose previous color stays warm: the next release lands on a color running old tasks
        ("f-warm", "warm-good-throttle-5pct-leaves-previous-warm", GOOD, ["throttle * 5%"], "released"),
        ("f-warm", "warm-bad5xx-onto-warm-color-stall-5pct", BAD_5XX, ["stall * 5% 1s"], "rolled_back"),
        ("f-warm", "warm-good-UpdateService-dropped-after", GOOD, ["drop_after ecs:UpdateService #1"], "released"),
        ("f-warm", "warm-bad-crash-onto-warm-color-DescribeServices-failing-20pct", BAD_CRASH, ["fail ecs:DescribeServices 20%"],
         "rolled_back"),
        # --- blue/green over ALB weights, pre-traffic check through the test listener
        ("f-bg", "bluegreen-good-UpdateService-dropped-after", GOOD, ["drop_after ecs:UpdateService #1"], "released"),
        ("f-bg", "bluegreen-bad5xx-stall-5pct-of-all-calls", BAD_5XX, ["stall * 5% 2s"], "rolled_back"),
        ("f-bg", "bluegreen-good-drop-before-10pct-of-all-calls", GOOD, ["drop_before * 10%"], "either"),
        ("f-bg", "bluegreen-bad-crash-DescribeTargetHealth-stalled-4s", BAD_CRASH, ["stall elbv2:DescribeTargetHealth #1-5 4s"],
         "rolled_back"),
        # --- blue/green over Route53 weighted records
        ("f-dns", "route53-good-ChangeResourceRecordSets-throttled", GOOD,
         ["throttle route53:ChangeResourceRecordSets #1", "throttle route53:* 25%"], "released"),
        ("f-dns", "route53-bad5xx-fail-10pct-of-all-calls", BAD_5XX, ["fail * 10%"], "rolled_back"),
        ("f-dns", "route53-good-ChangeResourceRecordSets-dropped-after", GOOD, ["drop_after route53:ChangeResourceRecordSets #1"],
         "released"),
        ("f-dns", "route53-bad5xx-mixed-faults-of-all-kinds", BAD_5XX,
         ["throttle * 3%", "fail * 3% status=500", "drop_before * 2%", "drop_after * 2%", "stall * 3% 1s"], "rolled_back"),
        # --- rolling (100/200)
        ("f-roll", "rolling-good-throttle-10pct-of-all-calls", GOOD, ["throttle * 10%"], "released"),
        ("f-roll", "rolling-bad-crash-UpdateService-dropped-after", BAD_CRASH, ["drop_after ecs:UpdateService #1"], "rolled_back"),
        ("f-roll", "rolling-good-DescribeServices-stalled-30pct", GOOD, ["stall ecs:DescribeServices 30% 2s"], "released"),
        ("f-roll", "rolling-good-RegisterTaskDefinition-throttled-once", GOOD, ["throttle ecs:RegisterTaskDefinition #1"], "released"),
    ]
    cases = []
    for n, (service, name, image, rules, expect, *rest) in enumerate(raw, start=1):
        if image == GOOD:  # a version no earlier release used: the app as is, APP_VERSION = the tag
            image = f"example/{'worker-web' if service == 'f-roll' else 'web'}:{100 + n}"
        cases.append(Case(f"{n:02d}-{name}", service, image, tuple(rules), expect, bool(rest and rest[0])))
    return cases


CASES = _cases()
LANES = list(dict.fromkeys(c.service for c in CASES))


# ---------------------------------------------------------------------------------------------- state, read from moto
@dataclass
class ColorState:
    service_name: str
    task_definition: str = ""
    desired: int = 0
    running: int = 0
    weight: int | None = None
    healthy: int = 0
    serving: Counter = field(default_factory=Counter)  # revision -> healthy targets ("?" if no task has that address)


@dataclass
class State:
    colors: dict[str, ColorState]
    lock: dict | None = None
    weights_split: bool = False

    def live(self) -> str | None:
        """The one color with all the traffic (100, the others 0); None when split or none."""
        if list(self.colors) == ["main"]:
            return "main"
        weights = {c: s.weight for c, s in self.colors.items()}
        full = [c for c, w in weights.items() if w == 100]
        if len(full) == 1 and all(w == 0 for c, w in weights.items() if c != full[0]):
            return full[0]
        return None

    def line(self) -> str:
        parts = []
        for color, s in self.colors.items():
            serving = ", ".join(f"{n}x {r.rsplit('/', 1)[-1]}" for r, n in s.serving.items()) or "none"
            weight = "" if s.weight is None else f" weight {s.weight}"
            parts.append(f"{color}:{weight} {s.task_definition.rsplit('/', 1)[-1]} x{s.desired} (running {s.running}), "
                         f"healthy {s.healthy} [{serving}]")
        if self.lock:
            parts.append(f"lock held by {self.lock.get('holder', '?')} (release {self.lock.get('release_id', '?')})")
        return "; ".join(parts)


def records_table(box) -> str:
    outputs = box.client("cloudformation").describe_stacks(StackName=names.BOOTSTRAP_STACK)["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == names.RECORDS_TABLE_OUTPUT)


def task_addresses(task: dict) -> set[str]:
    ips = {d.get("value") for a in task.get("attachments", []) for d in a.get("details", []) if d.get("name") == "privateIPv4Address"}
    for container in task.get("containers", []):
        ips |= {n.get("privateIpv4Address") for n in container.get("networkInterfaces", [])}
        ips |= {b.get("bindIP") for b in container.get("networkBindings", [])}
    return {ip for ip in ips if ip}


def observe(box, service: str) -> State:
    outputs = stack_outputs(box, service)
    ecs, elbv2 = box.client("ecs"), box.client("elbv2")
    cluster = outputs.get(names.OUTPUT_CLUSTER, "e2e")
    if "TargetGroupArn" in outputs:
        colors = {"main": (outputs["ServiceName"], outputs["TargetGroupArn"])}
    else:
        colors = {c: (outputs[f"{c.capitalize()}ServiceName"], outputs[f"{c.capitalize()}TargetGroupArn"]) for c in ("blue", "green")}
    state = State({c: ColorState(name) for c, (name, _) in colors.items()})
    if names.OUTPUT_RECORD in outputs:
        route53 = box.client("route53")
        zone = next(z["Id"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == outputs[names.OUTPUT_ZONE])
        sets = route53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=outputs[names.OUTPUT_RECORD])["ResourceRecordSets"]
        for rs in sets:
            if rs["Name"] == outputs[names.OUTPUT_RECORD] and rs.get("SetIdentifier") in state.colors:
                state.colors[rs["SetIdentifier"]].weight = int(rs["Weight"])
    elif "main" not in colors:
        actions = elbv2.describe_listeners(ListenerArns=[outputs[names.OUTPUT_LISTENER]])["Listeners"][0]["DefaultActions"]
        forward = next(a for a in actions if a["Type"] == "forward")
        groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [{"TargetGroupArn": forward["TargetGroupArn"], "Weight": 100}]
        by_arn = {g["TargetGroupArn"]: int(g.get("Weight", 0)) for g in groups}
        for color, (_, arn) in colors.items():
            state.colors[color].weight = by_arn.get(arn, 0)
    services = {s["serviceName"]: s for s in ecs.describe_services(cluster=cluster, services=[n for n, _ in colors.values()])["services"]}
    for color, (name, arn) in colors.items():
        s, c = services.get(name, {}), state.colors[color]
        c.task_definition, c.desired, c.running = s.get("taskDefinition", ""), s.get("desiredCount", 0), s.get("runningCount", 0)
        healthy = [t["Target"]["Id"] for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                   if t["TargetHealth"]["State"] == "healthy"]
        c.healthy = len(healthy)
        arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
        by_ip = {ip: t["taskDefinitionArn"] for t in tasks for ip in task_addresses(t)}
        c.serving = Counter(by_ip.get(ip, "?") for ip in healthy)
    item = box.client("dynamodb").get_item(TableName=records_table(box), ConsistentRead=True,
                                           Key={"pk": {"S": f"service#{service}"}, "sk": {"S": "lock"}}).get("Item")
    if item and float(item["expires_at"]["N"]) > time.time():
        state.lock = {k: list(v.values())[0] for k, v in item.items()}
    return state


def journal_of(box) -> DynamoJournal:
    return DynamoJournal(Table(box.client("dynamodb"), records_table(box)))


def read_record(box, service: str, release_id: str | None, since: float) -> dict | None:
    """The record as deployer stores it, read through its own journal (outside the fault proxy)."""
    journal = journal_of(box)
    if release_id:
        record = journal.load(service, release_id)
        return asdict(record) if record else None
    heads = [r for r in journal.history(service, 5) if r.started_at >= since - 2]
    return asdict(journal.load(service, heads[0].id)) if heads else None


def planned_base_revision(record: dict) -> str:
    return next((s.get("from_task_definition", "") for s in record.get("plan", {}).get("steps", []) if "from_task_definition" in s), "")


# ---------------------------------------------------------------------------------------------- one case
@dataclass
class Outcome:
    case: Case
    code: int | None = None
    result: str = ""
    reason: str = ""
    error_lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state: str = ""
    record: str = ""
    seconds: float = 0.0
    calls: int = 0
    faults: dict = field(default_factory=dict)
    traffic: str = ""
    repaired: str = ""

    def explain(self) -> str:
        lines = [f"{self.case.id}: {self.case.service} <- {self.case.image}, rules {list(self.case.rules)}, expected {self.case.expect}",
                 f"exit {self.code} ({self.result or '-'}) in {self.seconds:.0f}s; {self.calls} AWS calls, faults {self.faults}; traffic {self.traffic}"]
        if self.reason:
            lines.append(f"reason: {self.reason}")
        lines += [f"stderr: {line}" for line in self.error_lines[-8:]]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"state after: {self.state}")
        if self.record:
            lines.append(f"record: {self.record}")
        if self.repaired:
            lines.append(f"repaired afterwards: {self.repaired}")
        return "\n".join(lines)


ERROR_LINE = re.compile(r"^(error|hint|rolling back|  rollback|warning)\b|traceback|interrupted", re.IGNORECASE)


def run_case(box, case: Case, workdir: Path) -> Outcome:
    out = Outcome(case)
    ready = wait_until(lambda: (lambda s: s.live() and s.colors[s.live()].healthy >= 1 and not s.lock)(observe(box, case.service)), timeout=60)
    if not ready:
        out.problems.append(f"precondition: {case.service} has no single healthy live color or is locked before the release: "
                            f"{observe(box, case.service).line()}")
        out.state = observe(box, case.service).line()
        return out
    proxy = FaultProxy(box.endpoint, list(case.rules), seed=f"{case.seed}:{case.id}", log_path=workdir / f"{case.id}.calls.jsonl").start()
    through_proxy = control.Sandbox(box.directory, {**box.state, "endpoint": proxy.url})
    started = time.time()
    stderr, report = "", {}
    try:
        with Traffic(box, case.service, rps=LANE_RPS.get(case.service, RPS)) as traffic:
            try:
                out.code, report, stderr = run(through_proxy, "release", case.service, "--image", case.image, "--poll", "1s",
                                               timeout=RELEASE_TIMEOUT)
            except pytest.fail.Exception as exc:  # still running at the timeout: interrupted by run()
                stderr = str(exc)
                out.problems.append(f"still running after {RELEASE_TIMEOUT:.0f}s: interrupted with SIGINT")
    finally:
        proxy.stop()
    out.seconds = time.time() - started
    out.traffic = traffic.result.line() if traffic.result else "none"
    summary = proxy.summary()
    out.calls, out.faults = summary["calls"], summary["faults"]
    (workdir / f"{case.id}.stderr.txt").write_text(stderr)
    out.error_lines = [line for line in stderr.splitlines() if ERROR_LINE.search(line)]
    report = report if isinstance(report, dict) else {}
    out.result, out.reason = report.get("result", ""), report.get("rollback_reason", "")
    judge(box, case, out, report, stderr, started)
    return out


def judge(box, case: Case, out: Outcome, report: dict, stderr: str, started: float) -> None:
    problems = out.problems
    code = out.code
    if "Traceback" in stderr:
        problems.append("a traceback on stderr")
    if code == 4 and case.record_may_fail:
        loud = [line for line in out.error_lines if re.search(r"record|journal|dynamodb|putitem", line, re.IGNORECASE)]
        if not loud:
            problems.append("exit 4 without saying that the release record could not be written")
        else:
            out.notes.append(f"LOUD: exit 4, the record could not be written: {loud[0]}")
            warnings.warn(f"{case.id}: exit 4, the release record could not be written ({loud[0]})", stacklevel=1)
    elif code not in (0, 3):
        problems.append(f"exit {code}: neither released (0) nor rolled back (3)")
    elif case.expect == "released" and code != 0:
        problems.append("a good image under faults a client can absorb was not released")
    elif case.expect == "rolled_back" and code != 3:
        problems.append("a bad image was not rolled back")
    if report and code in (0, 3) and report.get("result") != {0: "released", 3: "rolled_back"}[code]:
        problems.append(f"the report says {report.get('result')!r} but the exit code is {code}")

    # traffic: one color, 100/0, with healthy targets (converging for up to SETTLE seconds)
    state = observe(box, case.service)
    wait_until(lambda: (lambda s: s.live() is not None and s.colors[s.live()].healthy >= 1)(observe(box, case.service)), timeout=SETTLE, every=1)
    state = observe(box, case.service)
    live = state.live()
    out.state = state.line()
    if live is None:
        problems.append("traffic is not on one color (weights " + ", ".join(f"{c} {s.weight}" for c, s in state.colors.items()) + ")")
    elif state.colors[live].healthy < 1:
        problems.append(f"the live color {live} has no healthy targets")

    # the record
    record = read_record(box, case.service, report.get("release_id"), started)
    if record is None:
        if code in (0, 3) or not case.record_may_fail:
            problems.append("no release record")
        return
    out.record = (f"{record['id']} state {record['state']}, live {record.get('live')}, from {record.get('from_revision', '').rsplit('/', 1)[-1]} "
                  f"to {record.get('to_revision', '').rsplit('/', 1)[-1]}, reason {record.get('reason', '')[:160]!r}")
    if code == 0 and record["state"] != "released":
        problems.append(f"exit 0 but the record says {record['state']}")
    if code == 3 and record["state"] != "rolled_back":
        problems.append(f"exit 3 but the record says {record['state']}")
    if record["state"] not in ("released", "rolled_back"):
        if not (code == 4 and case.record_may_fail):
            problems.append(f"the record is left {record['state']}")
        return
    if live is None:
        return
    expected = record.get("to_revision") if record["state"] == "released" else (record.get("from_revision") or planned_base_revision(record))
    which = "to_revision" if record["state"] == "released" else "from_revision"
    if live != "main" and record.get("live") != live:
        problems.append(f"the record says {record.get('live')} is live, traffic is on {live}")

    def runs_expected() -> bool:
        """The live color's ECS service is on that revision and its healthy targets are that revision's
        tasks (when the emulator says which task has which address: "?" = a target no task claims)."""
        color = observe(box, case.service).colors[live]
        if color.task_definition != expected or color.healthy < 1:
            return False
        if set(color.serving) == {"?"}:
            return True  # no task addresses at all: the service's revision is all we can check
        return color.serving.get(expected, 0) >= 1 and set(color.serving) <= {expected}

    if not wait_until(runs_expected, timeout=SETTLE, every=1):
        color = observe(box, case.service).colors[live]
        problems.append(f"{record['state']} record: its {which} {expected.rsplit('/', 1)[-1] or '(none)'} does not run on the live color "
                        f"{live} (service on {color.task_definition.rsplit('/', 1)[-1]}, healthy targets "
                        f"{dict((r.rsplit('/', 1)[-1], n) for r, n in color.serving.items())})")
    out.state = observe(box, case.service).line()


def repair(box, case: Case, out: Outcome) -> None:
    """Put the service back to one healthy color, no lock, no unfinished record, for the next case of the lane."""
    def broken() -> list[str]:
        state = observe(box, case.service)
        why = []
        if state.live() is None or state.colors[state.live()].healthy < 1:
            why.append("traffic")
        if state.lock:
            why.append("lock")
        record = read_record(box, case.service, None, 0)
        if record and record["state"] not in ("released", "rolled_back", "failed"):
            why.append(f"record {record['state']}")
        return why

    why = broken()
    if not why:
        return
    code, _, err = run(box, "resume", case.service, "--rollback", "--poll", "1s", timeout=90)
    still = broken()
    out.repaired = f"{', '.join(why)}: `deployer resume --rollback` (direct) exit {code}"
    if not still:
        return
    # by hand: traffic to the healthiest color, the lock deleted, the record closed as failed
    state = observe(box, case.service)
    outputs = stack_outputs(box, case.service)
    best = max(state.colors, key=lambda c: (state.colors[c].healthy, state.colors[c].weight or 0))
    if best != "main":
        weights = {c: (100 if c == best else 0) for c in state.colors}
        if names.OUTPUT_RECORD in outputs:
            route53 = box.client("route53")
            zone = next(z["Id"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == outputs[names.OUTPUT_ZONE])
            sets = route53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=outputs[names.OUTPUT_RECORD])["ResourceRecordSets"]
            changes = [{"Action": "UPSERT", "ResourceRecordSet": {**rs, "Weight": weights[rs["SetIdentifier"]]}}
                       for rs in sets if rs["Name"] == outputs[names.OUTPUT_RECORD] and rs.get("SetIdentifier") in weights]
            route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
        else:
            groups = [{"TargetGroupArn": outputs[f"{c.capitalize()}TargetGroupArn"], "Weight": w} for c, w in weights.items()]
            box.client("elbv2").modify_listener(ListenerArn=outputs[names.OUTPUT_LISTENER],
                                                DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}])
    dynamodb, table = box.client("dynamodb"), records_table(box)
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": f"service#{case.service}"}, "sk": {"S": "lock"}})
    journal = journal_of(box)
    record = journal.latest(case.service)
    if record and record.state not in ("released", "rolled_back", "failed"):
        record.state, record.reason = "failed", (record.reason or "") + " [closed by tests/e2e/test_faults.py repair]"
        journal.save(record)
    out.repaired += f"; still {', '.join(still)}: by hand (weights to {best}, lock deleted, record closed as failed)"


# ---------------------------------------------------------------------------------------------- the module's run
def _selected(session) -> list[Case]:
    wanted = {item.callspec.params["case"].id for item in session.items
              if getattr(item, "originalname", "") == "test_release_under_faults" and hasattr(item, "callspec")}
    return [c for c in CASES if c.id in wanted]


@pytest.fixture(scope="module")
def fault_results(sandbox, request, tmp_path_factory):
    cases = _selected(request.session)
    workdir = tmp_path_factory.mktemp("faults")
    results: dict[str, Outcome] = {}
    lock = threading.Lock()
    started = time.monotonic()
    services = list(dict.fromkeys(c.service for c in cases))
    for service in services:
        code, _, err = run(sandbox, "provision", service)
        assert code == 0, f"provision {service}: {err[-2000:]}"

    def lane(service: str) -> None:
        for case in (c for c in cases if c.service == service):
            try:
                outcome = run_case(sandbox, case, workdir)
            except BaseException as exc:  # noqa: BLE001 - a broken case must not take its lane down
                outcome = Outcome(case, problems=[f"the harness failed: {type(exc).__name__}: {str(exc)[:500]}"])
            try:
                repair(sandbox, case, outcome)
            except BaseException as exc:  # noqa: BLE001
                outcome.repaired = f"repair failed: {type(exc).__name__}: {str(exc)[:300]}"
            with lock:
                results[case.id] = outcome

    with ThreadPoolExecutor(max_workers=max(1, len(services)), thread_name_prefix="fault-lane") as pool:
        for future in [pool.submit(lane, s) for s in services]:
            future.result()
    elapsed = time.monotonic() - started
    _print_summary(request.config, cases, results, elapsed, workdir)
    return results


def _print_summary(config, cases: list[Case], results: dict[str, Outcome], elapsed: float, workdir: Path) -> None:
    calls = sum(o.calls for o in results.values())
    faults: Counter = Counter()
    for o in results.values():
        faults.update(o.faults)
    lines = [f"fault-injection releases: {len(results)} in {elapsed:.0f}s; {calls} AWS calls through the proxies, "
             f"{sum(faults.values())} faults injected: " + ", ".join(f"{k} {faults.get(k, 0)}" for k in KINDS)]
    for case in cases:
        o = results.get(case.id)
        if o is None:
            continue
        verdict = "ok  " if not o.problems else "FAIL"
        lines.append(f"  {verdict} {case.id:<66} exit {o.code!s:>4} {o.seconds:5.0f}s {o.calls:4d} calls "
                     f"{sum(o.faults.values()):3d} faults" + (f" — {o.problems[0]}" if o.problems else ""))
        lines += [f"         {n}" for n in o.notes if n.startswith("LOUD")]
    lines.append(f"  logs: {workdir} (per case: the proxy's calls as JSON lines, deployer's stderr)")
    (workdir / "summary.json").write_text(json.dumps({
        "seconds": round(elapsed, 1), "calls": calls, "faults": dict(faults),
        "cases": {cid: {"exit": o.code, "result": o.result, "problems": o.problems, "notes": o.notes, "seconds": round(o.seconds, 1),
                        "calls": o.calls, "faults": o.faults, "state": o.state, "record": o.record, "repaired": o.repaired,
                        "error_lines": o.error_lines[-8:]} for cid, o in results.items()}}, indent=2))
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in [""] + lines:
            if reporter is not None:
                reporter.write_line(line)
            else:
                print(line)
    if os.environ.get("DEPLOYER_FAULTS_SUMMARY"):
        Path(os.environ["DEPLOYER_FAULTS_SUMMARY"]).write_text((workdir / "summary.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_release_under_faults(fault_results, case):
    outcome = fault_results[case.id]
    assert not outcome.problems, outcome.explain()


def test_the_profiles_cover_every_strategy_and_fault_kind():
    """The cases themselves (no release): at least 20, every strategy, good and bad images, every fault kind."""
    assert len(CASES) >= 20
    assert {"f-canary", "f-bg", "f-dns", "f-roll"} <= set(LANES)
    assert any(c.image in (BAD_5XX, BAD_SLOW, BAD_CRASH) for c in CASES) and any(c.expect == "released" for c in CASES)
    kinds = {rule.split()[0] for c in CASES for rule in c.rules}
    assert kinds == set(KINDS)
    assert len({c.id for c in CASES}) == len(CASES)
