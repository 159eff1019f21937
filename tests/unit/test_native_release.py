"""engine ecs: the plan, and the driver that follows ECS's own deployment and judges it at its
PAUSE hooks, against a scripted ECS (stages in ECS's order, hooks that wait for an answer, the
production rule's weights moved per step, ECS's own rollbacks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from deployer.aws.ecs_deployments import Hook, ServiceDeployment
from deployer.errors import Interrupted, RolledBack, UsageError
from deployer.release import record as states
from deployer.release import service as releases
from deployer.release.executor import Executor, Settings
from deployer.release.memory_journal import MemoryJournal
from deployer.release.native_plan import plan_native_rollback
from deployer.release.plan import ColorState, Observed, plan_rollback
from deployer.release.steps import FollowEcsDeployment, RollBackEcsDeployment
from deployer.release.strategies import plan_release, request_from_spec
from tests.fakes import Behaviour, FakeClock, FakeColor, FakeTarget, RecordingProgress

ARN = "arn:aws:ecs:us-east-1:123456789012:service-deployment/demo/checkout/d1"


@dataclass
class ScriptedEcs(FakeTarget):
    """A FakeTarget whose traffic ECS moves: blue and green are target groups of one service."""

    stage_seconds: float = 4.0
    canary_percent: int = 10
    canary_bake: float = 60.0
    bake: float = 60.0
    pause_at: tuple = ("POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT")
    alarm_at_bake: str = ""  # an alarm ECS watches goes into ALARM during BAKE_TIME
    probe_ok: bool = True
    script: list = field(default_factory=list)
    at: int = -1
    stage_end: float = 0.0
    status: str = "NONE"
    hook: Hook | None = None
    answers: list = field(default_factory=list)
    stops: int = 0
    triggered: tuple = ()
    revision: str = ""
    created_at: float = 0.0
    deployments: int = 0
    arn: str = ""
    lose_start_answer: bool = False  # the runner dies right after UpdateService (before it records the deployment)

    @classmethod
    def native(cls, clock, **kw) -> "ScriptedEcs":
        colors = {"main": FakeColor("web:1", 2, 2, 2), "blue": FakeColor("web:1", 2, 2, 2), "green": FakeColor("web:1", 0, 0, 0)}
        return cls(colors=colors, clock=clock, weights_now={"blue": 100, "green": 0}, **kw)

    def observe(self) -> Observed:
        main = self.colors["main"]
        return Observed({"main": ColorState(main.task_definition, main.desired)}, dict(self.weights_now))

    def _plan_script(self):
        shifts = [("PRE_PRODUCTION_TRAFFIC_SHIFT", 0, None), ("PRODUCTION_TRAFFIC_SHIFT", 0, self.canary_percent),
                  ("CANARY_BAKE", self.canary_bake, None),
                  ("PRE_PRODUCTION_TRAFFIC_SHIFT", 0, None), ("PRODUCTION_TRAFFIC_SHIFT", 0, 100)]
        return ([("PRE_SCALE_UP", 0, None), ("SCALE_UP", self.stage_seconds, None), ("POST_SCALE_UP", 0, None),
                 ("TEST_TRAFFIC_SHIFT", 0, None), ("POST_TEST_TRAFFIC_SHIFT", 0, None)] + shifts
                + [("POST_PRODUCTION_TRAFFIC_SHIFT", 0, None), ("BAKE_TIME", self.bake, None), ("CLEAN_UP", 0, None)])

    # --- the ServiceTarget's engine-ecs interface ---
    def start_deployment(self, task_definition: str) -> None:
        self._touch("start_deployment")
        self.revision, self.script, self.at, self.status = task_definition, self._plan_script(), -1, "IN_PROGRESS"
        self.created_at, self.deployments = self.clock(), self.deployments + 1
        self.arn = ARN if self.deployments == 1 else f"{ARN}-{self.deployments}"
        self._enter_next()

    def current_deployment(self):
        if self.lose_start_answer and self.status != "NONE":
            raise KeyboardInterrupt  # the runner is gone here
        return self.arn if self.status != "NONE" else None

    def deployment_created_since(self, at: float):
        return self.arn if self.status != "NONE" and self.created_at >= at - 1.0 else None

    def _enter_next(self) -> None:
        self.at += 1
        if self.at >= len(self.script):
            self.status = "SUCCESSFUL"
            self.colors["main"].task_definition = self.revision
            self.colors["blue"].desired = self.colors["blue"].healthy = 0
            return
        stage, seconds, weight = self.script[self.at]
        self.stage_end = self.clock() + seconds
        if stage == "SCALE_UP":
            green = self.colors["green"]
            green.task_definition, green.desired, green.running, green.healthy = self.revision, 2, 2, 2
        if weight is not None:
            self.weights_now = {"blue": 100 - weight, "green": weight}
        if stage in self.pause_at:
            self.hook = Hook(f"ecs-pause-{self.at}", "PAUSE", "AWAITING_ACTION", self.clock() + 600, "ROLLBACK")
        if stage == "BAKE_TIME" and self.alarm_at_bake:
            self._roll_back()
            self.triggered = (self.alarm_at_bake,)

    def _advance(self) -> None:
        while self.status == "IN_PROGRESS" and self.hook is None and self.clock() >= self.stage_end:
            self._enter_next()

    def _roll_back(self) -> None:
        self.weights_now = {"blue": 100, "green": 0}
        self.colors["green"].desired = self.colors["green"].healthy = 0
        self.status, self.hook = "ROLLBACK_SUCCESSFUL", None

    def deployment(self, arn: str) -> ServiceDeployment:
        self._touch("deployment")
        assert arn == self.arn, (arn, self.arn)
        self._advance()
        stage = self.script[self.at][0] if 0 <= self.at < len(self.script) else ""
        stage = "PRODUCTION_TRAFFIC_SHIFT" if stage == "CANARY_BAKE" else stage  # ECS shows the step's stage while it bakes
        return ServiceDeployment(arn, self.status, stage, hooks=(self.hook,) if self.hook else (), triggered_alarms=self.triggered)

    def answer_hook(self, arn: str, hook_id: str, action: str) -> None:
        self.answers.append((self.script[self.at][0], action))
        self.hook = None
        if action == "ROLLBACK":
            self._roll_back()
        else:
            self._enter_next()

    def stop_deployment(self, arn: str) -> None:
        self.stops += 1
        self._roll_back()

    def test_listener_url(self) -> str:
        return "http://test-listener.example:8080"


@pytest.fixture
def checkout(examples_config):
    return examples_config.services["checkout"]


@pytest.fixture
def clock():
    return FakeClock()


def make(service, target, clock, journal=None, stop=lambda: False, probe_ok=True):
    return Executor(service, target, journal or MemoryJournal(), RecordingProgress(), clock=clock, sleep=clock.sleep,
                    stop_requested=stop, settings=Settings(poll=2.0, lease=30.0),
                    probe=lambda url: None if probe_ok else "HTTP 503")


def test_native_plan_registers_starts_and_follows_with_ecs_rollback(checkout, clock):
    target = ScriptedEcs.native(clock)
    plan = plan_release(checkout, target.observe(), request_from_spec(checkout, "example/checkout:2"))
    assert (plan.live, plan.target) == ("blue", "green")
    assert [s.kind for s in plan.steps] == ["RegisterTaskDefinition", "StartEcsDeployment", "FollowEcsDeployment"]
    follow = plan.steps[2]
    assert follow.judge_at == ("POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT") and follow.canary == "green"
    assert plan.lines()[1] == " 2. start ECS's CANARY deployment of <new revision>"
    assert plan_rollback(plan, 0, "web:1", 2) == ()  # nothing started yet
    # ECS's own bakes (canary 1m + bake 1m) come on top of release.timeout
    assert follow.timeout == checkout.release.timeout + 120
    assert plan_rollback(plan, 1, "web:1", 2) == (RollBackEcsDeployment(follow.timeout),)
    assert plan_native_rollback(plan, 2) == (RollBackEcsDeployment(follow.timeout),)
    # the stored plan reads back the same
    from deployer.release.plan import plan_from_dict
    assert plan_from_dict(plan.to_dict()).steps[2] == follow and isinstance(follow, FollowEcsDeployment)


def test_flags_cannot_change_what_ecs_runs(checkout):
    with pytest.raises(UsageError, match="ECS runs its canary deployments .*--strategy bluegreen cannot change that"):
        request_from_spec(checkout, "example/checkout:2", strategy="bluegreen")
    with pytest.raises(UsageError, match="--steps, --bake: ECS runs this deployment with the settings of its stack"):
        request_from_spec(checkout, "example/checkout:2", steps=(50, 100), bake=30)


def test_good_native_canary_is_continued_stage_by_stage(checkout, clock):
    target = ScriptedEcs.native(clock, behaviour={"example/checkout:2": Behaviour(0.01, 100)})
    ex = make(checkout, target, clock)
    record = releases.release(ex, request_from_spec(checkout, "example/checkout:2"), actor="tester")
    assert record.state == states.RELEASED and record.ecs_deployment == ARN
    assert target.answers == [("POST_TEST_TRAFFIC_SHIFT", "CONTINUE"), ("PRE_PRODUCTION_TRAFFIC_SHIFT", "CONTINUE"),
                              ("PRE_PRODUCTION_TRAFFIC_SHIFT", "CONTINUE")]
    assert target.weights_now == {"blue": 0, "green": 100} and target.stops == 0
    judged = [v for v in record.verdicts if v["weight"] == 10]
    assert judged and judged[-1]["outcome"] == "PASS" and judged[-1]["canary"]["requests"] >= 100
    texts = [e["text"] for e in record.events]
    assert "ECS set weights blue 90, green 10" in texts and any(t.startswith("ECS stage BAKE_TIME") for t in texts)


def test_bad_native_canary_is_rolled_back_by_the_judge_with_its_numbers(checkout, clock):
    target = ScriptedEcs.native(clock, behaviour={"example/checkout:3": Behaviour(error_rate=0.20)})
    ex = make(checkout, target, clock)
    with pytest.raises(RolledBack) as info:
        releases.release(ex, request_from_spec(checkout, "example/checkout:3"), actor="tester")
    assert info.value.exit_code == 3
    record = ex.journal.latest("checkout")
    assert record.state == states.ROLLED_BACK and record.reason.startswith("error_rate_above_limit: canary 5xx")
    assert target.weights_now == {"blue": 100, "green": 0}
    failed = [v for v in record.verdicts if v["outcome"] == "FAIL"]
    assert failed and failed[0]["weight"] == 10
    # ECS's own rollback did it: a stop during the canary's bake (or ROLLBACK at the next hook), never our weights
    assert target.stops + sum(1 for _, a in target.answers if a == "ROLLBACK") == 1
    assert "set_weights" not in target.calls
    assert any("after the FAIL verdict" in e["text"] for e in record.events)
    from deployer.release.report import report

    data = report(record)
    assert data["ecs_deployment"] == ARN and data["restore_seconds"] is not None and data["restore_seconds"] < 1.0


def test_failing_test_listener_check_rolls_back_before_production_traffic(checkout, clock):
    target = ScriptedEcs.native(clock)
    ex = make(checkout, target, clock, probe_ok=False)
    with pytest.raises(RolledBack, match="pre_traffic_check_failed: 10/10 checks of http://test-listener.example:8080/health failed"):
        releases.release(ex, request_from_spec(checkout, "example/checkout:2"), actor="tester")
    assert target.answers == [("POST_TEST_TRAFFIC_SHIFT", "ROLLBACK")]
    assert "ECS set weights" not in " ".join(e["text"] for e in ex.journal.latest("checkout").events)


def test_ecs_alarm_rollback_is_reported_with_the_alarm(checkout, clock):
    target = ScriptedEcs.native(clock, alarm_at_bake="checkout-green-5xx", behaviour={"example/checkout:2": Behaviour(0.01, 100)})
    ex = make(checkout, target, clock)
    with pytest.raises(RolledBack) as info:
        releases.release(ex, request_from_spec(checkout, "example/checkout:2"), actor="tester")
    assert info.value.exit_code == 3
    assert ex.journal.latest("checkout").reason == "ecs_alarm: ECS rolled back: alarm checkout-green-5xx in ALARM"
    assert target.stops == 0  # ECS did it; the runner only read it back


def test_interrupted_native_release_is_resumed_on_the_same_deployment(checkout, clock):
    target = ScriptedEcs.native(clock, behaviour={"example/checkout:2": Behaviour(0.01, 100)})
    journal = MemoryJournal()
    stop = {"now": False}

    def stop_at_canary():
        stop["now"] = stop["now"] or target.weights_now.get("green", 0) == 10
        return stop["now"]

    ex = make(checkout, target, clock, journal, stop=stop_at_canary)
    with pytest.raises(Interrupted, match="ECS holds its deployment at the next judged stage"):
        releases.release(ex, request_from_spec(checkout, "example/checkout:2"), actor="tester")
    assert journal.latest("checkout").state == states.INTERRUPTED
    assert target.weights_now == {"blue": 90, "green": 10}  # ECS's, untouched by the interrupt
    record = releases.resume(make(checkout, target, clock, journal), actor="tester")
    assert record.state == states.RELEASED and record.ecs_deployment == ARN
    assert target.calls.count("start_deployment") == 1


def test_rollback_after_a_finished_native_release_is_ecs_deploying_the_previous_revision(checkout, clock):
    target = ScriptedEcs.native(clock, behaviour={"example/checkout:2": Behaviour(0.01, 100)})
    journal = MemoryJournal()
    released = releases.release(make(checkout, target, clock, journal), request_from_spec(checkout, "example/checkout:2"), actor="t")
    assert target.colors["main"].task_definition == released.to_revision
    target.colors["blue"].task_definition = "web:1"  # the blue target group takes the previous revision back
    target.status = "NONE"
    record = releases.rollback(make(checkout, target, clock, journal), actor="t")
    assert record.strategy == "rollback" and record.state == states.RELEASED
    assert target.revision == released.from_revision == "web:1"
    # the way back is not judged: every hook is continued
    assert target.answers[-3:] == [("POST_TEST_TRAFFIC_SHIFT", "CONTINUE"), ("PRE_PRODUCTION_TRAFFIC_SHIFT", "CONTINUE"),
                                   ("PRE_PRODUCTION_TRAFFIC_SHIFT", "CONTINUE")]
    assert not [v for v in record.verdicts]


def test_status_shows_ecs_deployment_stage_and_waiting_hook(checkout, clock):
    target = ScriptedEcs.native(clock)
    ex = make(checkout, target, clock)
    assert releases.status(ex)["ecs_deployment"] is None
    target.start_deployment("web:2")
    for _ in range(3):
        clock.sleep(5)
        target.deployment(ARN)
    data = releases.status(ex)
    assert data["ecs_deployment"]["stage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert data["ecs_deployment"]["awaiting_hook"].startswith("ecs-pause-")
    assert data["ecs_deployment"]["target_groups"] == {"blue": 100, "green": 0}
    assert data["colors"]["main"]["healthy"] == 4  # both target groups' targets


def test_a_deployment_started_but_never_recorded_is_found_and_rolled_back(checkout, clock):
    """The runner dies between UpdateService and writing the deployment's ARN: `rollback` finds the
    deployment this release started (created since it began) and has ECS roll it back."""
    target = ScriptedEcs.native(clock, lose_start_answer=True)
    journal = MemoryJournal()
    with pytest.raises(KeyboardInterrupt):
        releases.release(make(checkout, target, clock, journal), request_from_spec(checkout, "example/checkout:2"), actor="t")
    assert journal.latest("checkout").ecs_deployment == "" and target.status == "IN_PROGRESS"
    target.lose_start_answer = False
    clock.sleep(30)  # its lease runs out
    with pytest.raises(RolledBack):
        releases.rollback(make(checkout, target, clock, journal), actor="t")
    record = journal.latest("checkout")
    assert record.ecs_deployment == ARN and target.stops == 1 and target.status == "ROLLBACK_SUCCESSFUL"
    assert target.calls.count("start_deployment") == 1


def test_rolling_back_a_deployment_that_succeeded_meanwhile_redeploys_the_previous_revision(checkout, clock):
    """The runner was gone through ECS's bake and ECS finished: the rollback of the unfinished release
    has ECS deploy the revision that served before it (not the one before that)."""
    target = ScriptedEcs.native(clock, behaviour={"example/checkout:2": Behaviour(0.01, 100)})
    journal = MemoryJournal()
    stop = {"now": False}

    def stop_at_bake():
        stop["now"] = stop["now"] or (0 <= target.at < len(target.script) and target.script[target.at][0] == "BAKE_TIME")
        return stop["now"]

    with pytest.raises(Interrupted):
        releases.release(make(checkout, target, clock, journal, stop=stop_at_bake), request_from_spec(checkout, "example/checkout:2"),
                         actor="t")
    clock.sleep(120)
    target.deployment(ARN)  # ECS finishes without anyone watching
    assert target.status == "SUCCESSFUL" and target.colors["main"].task_definition == "web:2"
    with pytest.raises(RolledBack):
        releases.resume(make(checkout, target, clock, journal), actor="t", roll_back=True)
    record = journal.latest("checkout")
    assert target.revision == "web:1" and target.status == "SUCCESSFUL" and record.ecs_deployment == f"{ARN}-2"
    assert target.colors["main"].task_definition == "web:1"
    assert any("deploys the previous revision web:1" in e["text"] for e in record.events)
