"""Release trains against in-memory services: waves in order, a halt on the first failure with
on_failure applied, locks taken all at once in a fixed order, and the train's own record."""

from __future__ import annotations

import pytest

from deployer.errors import Locked, RolledBack, UsageError
from deployer.release import record as release_states
from deployer.release.executor import Executor, Settings
from deployer.release.memory_journal import MemoryJournal
from deployer.release.preflight import estimate
from deployer.release.strategies import plan_release, request_from_spec
from deployer.train import record as states
from deployer.train.plan import parse_images
from deployer.train.record import TrainRecord
from deployer.train.runner import TrainRunner, TrainSettings, plan_train, release
from tests.fakes import Behaviour, FakeClock, FakeTarget, RecordingProgress

GOOD = {"api": "example/api:2", "web": "example/web:2", "worker-web": "example/worker-web:2"}


class Line:
    """Progress lines of every member, prefixed with its name (as the CLI prints them)."""

    def __init__(self, into: RecordingProgress, name: str):
        self.into, self.name = into, name

    def line(self, text):
        self.into.line(f"{self.name}: {text}")

    def untrusted(self, text):
        self.into.line(f"{self.name}: {text}")

    def step(self, index, total, text):
        self.into.line(f"{self.name}: step {index}/{total} {text}")

    def verdict(self, step, data):
        self.into.verdicts.append({"service": self.name, **data})


class World:
    def __init__(self, config, behaviour=None, on_failure=None):
        self.config = config
        self.train = config.trains["storefront"]
        if on_failure:
            self.train = self.train.replace(on_failure=on_failure)
        self.clock = FakeClock()
        self.journal = MemoryJournal()
        self.progress = RecordingProgress()
        behaviour = behaviour or {}
        self.targets = {
            "api": FakeTarget.colors_service(self.clock, behaviour=dict(behaviour)),
            "web": FakeTarget.colors_service(self.clock, behaviour=dict(behaviour)),
            "worker-web": FakeTarget.rolling_service(self.clock, behaviour=dict(behaviour)),
        }

    def executor(self, name, stop):
        return Executor(self.config.services[name], self.targets[name], self.journal, Line(self.progress, name), clock=self.clock,
                        sleep=self.clock.sleep, stop_requested=stop, settings=Settings(poll=2.0, lease=30.0))

    def plan_member(self, name, image):
        service = self.config.services[name]
        plan = plan_release(service, self.targets[name].observe(), request_from_spec(service, image))
        return plan, estimate(service, plan).seconds

    def runner(self, stop=lambda: False):
        return TrainRunner(self.journal, self.executor, self.progress, self.clock, self.clock.sleep, stop,
                           TrainSettings(lease=30.0, renew_every=0.01))

    def release(self, images=None, stop=lambda: False):
        return release(self.runner(stop), "storefront", self.train, images or GOOD, "tester", self.plan_member)

    def last_train(self) -> TrainRecord:
        return TrainRecord.from_json(self.journal.train_history("storefront")[0])


def test_a_train_releases_its_waves_in_order_each_member_with_its_own_strategy(examples_config):
    world = World(examples_config)
    record = world.release()
    assert record.state == states.RELEASED
    assert {n: m.state for n, m in record.members.items()} == {"api": "released", "web": "released", "worker-web": "released"}
    api, web, worker = (world.journal.latest(n) for n in ("api", "web", "worker-web"))
    assert (api.strategy, web.strategy, worker.strategy) == ("bluegreen", "canary", "rolling")
    assert all(r.state == release_states.RELEASED for r in (api, web, worker))
    assert api.finished_at <= web.started_at and api.finished_at <= worker.started_at  # wave 1 before wave 2
    assert web.started_at - api.finished_at >= 10  # bake_between
    assert {record.members[n].release_id for n in GOOD} == {api.id, web.id, worker.id}
    assert world.journal.holder("api") is None and world.journal.holder("web") is None  # every lock given back
    stored = world.last_train()
    assert stored.state == states.RELEASED and [[m["service"] for m in w] for w in stored.plan["waves"]] == [["api"], ["web", "worker-web"]]
    assert "plan" not in stored.plan["waves"][0][0]  # the members' plans live in their own records


def test_a_bad_member_halts_the_train_and_rollback_all_undoes_the_released_ones(examples_config):
    world = World(examples_config, behaviour={"example/web:3": Behaviour(error_rate=0.20)})
    with pytest.raises(RolledBack) as info:
        world.release({**GOOD, "web": "example/web:3"})
    assert info.value.exit_code == 3
    assert "train storefront halted by web: error_rate_above_limit" in info.value.message
    record = world.last_train()
    assert record.state == states.ROLLED_BACK and record.reason.startswith("web: error_rate_above_limit")
    assert record.members["web"].state == "failed" and record.members["api"].state == "rolled_back"
    assert world.targets["api"].weights_now == {"blue": 100, "green": 0}  # api back on its previous color
    assert world.targets["web"].weights_now == {"blue": 100, "green": 0}
    assert world.journal.latest("api").strategy == "rollback"
    # worker-web ran beside web: released first (kept, then rolled back) or halted at its next poll
    assert record.members["worker-web"].state == "rolled_back"
    assert world.journal.latest("worker-web").state in (release_states.ROLLED_BACK, release_states.RELEASED)
    assert all(world.journal.holder(n) is None for n in GOOD)


def test_on_failure_stop_leaves_the_released_members_released(examples_config):
    world = World(examples_config, behaviour={"example/web:3": Behaviour(error_rate=0.20)}, on_failure="stop")
    with pytest.raises(RolledBack) as info:
        world.release({**GOOD, "web": "example/web:3"})
    record = world.last_train()
    assert record.members["api"].state == "kept" and world.targets["api"].weights_now == {"blue": 0, "green": 100}
    assert "left released: api" in info.value.message


def test_two_trains_sharing_a_member_one_proceeds_the_other_refuses_naming_the_holder(examples_config):
    world = World(examples_config)
    first = world.runner()
    first.acquire_all(["api", "web"], "ci#1", "train-1")
    second = world.runner()
    with pytest.raises(Locked) as info:
        second.acquire_all(["worker-web", "web"], "ci#2", "train-2")
    assert info.value.exit_code == 6
    assert info.value.message.startswith("train: web is locked by ci#1 (release train-1)")
    assert world.journal.holder("worker-web") is None  # what the second took before web is given back
    first.release_all()
    assert world.journal.holder("api") is None


def test_a_member_with_an_unfinished_release_stops_the_train_before_anything_changes(examples_config):
    world = World(examples_config)
    from deployer.release.record import ReleaseRecord

    world.journal.save(ReleaseRecord(id="20270101T000000Z-orphan", service="web", strategy="canary", image="example/web:9",
                                     actor="gone", started_at=world.clock(), plan={}, live="blue", target="green", fence=1))
    with pytest.raises(Locked) as info:  # the service's unfinished-release error: names both ways out
        world.release()
    assert "web: release 20270101T000000Z-orphan" in info.value.message
    assert world.journal.latest("api") is None and world.journal.train_history("storefront") == []
    assert all(world.journal.holder(n) is None for n in GOOD)


def test_a_signal_stops_every_running_member_and_leaves_the_train_interrupted(examples_config):
    world = World(examples_config)
    record = interrupted_in_wave_2(world)
    assert record.state == states.INTERRUPTED and record.members["api"].state == "released"
    assert world.targets["web"].weights_now.get("blue") == 100  # traffic back on the stable color


def test_the_dry_run_plan_shows_waves_members_and_a_time_estimate(examples_config):
    world = World(examples_config)
    plan = plan_train("storefront", world.train, GOOD, world.plan_member)
    text = "\n".join(plan.lines())
    assert text.splitlines()[0] == "train storefront: 3 members in 2 wave(s), 4 at a time, on failure: rollback all"
    assert "  wave 1 (about" in text and "    api: bluegreen of example/api:2" in text and "  then bake 10s" in text
    wave2 = plan.wave_seconds(plan.waves[1])
    assert wave2 == max(m.seconds for m in plan.waves[1])  # in parallel: the slowest member
    assert plan.seconds == plan.wave_seconds(plan.waves[0]) + 10 + wave2


@pytest.mark.parametrize("values,message", [
    (("api=example/api:2",), "train storefront needs an image for every member; missing: web, worker-web (--image web=IMAGE)"),
    (("shop=example/shop:1",), "--image shop=example/shop:1: shop is not a member of train storefront (members: api, web, worker-web)"),
    (("web",), "--image web: expected SERVICE=IMAGE, e.g. web=registry/web:2"),
    (("web=a:1", "web=a:2"), "--image web=a:2: web has an image already (a:1)"),
])
def test_images_for_a_train_are_one_per_member(values, message):
    with pytest.raises(UsageError) as info:
        parse_images(values, ["api", "web", "worker-web"], "storefront")
    assert info.value.message == message


# ---------------------------------------------------------------------- resume and rollback
def interrupted_in_wave_2(world) -> TrainRecord:
    """A train stopped by a signal once web's release has begun: api released, web stopped."""
    from deployer.errors import Interrupted

    polls = {"n": 0}

    def stop():
        polls["n"] += 1
        return world.journal.latest("web") is not None and polls["n"] > 5

    with pytest.raises(Interrupted):
        world.release(stop=stop)
    return world.last_train()


def test_resume_goes_on_with_an_interrupted_train_from_its_record(examples_config):
    from deployer.train.runner import resume

    world = World(examples_config)
    stopped = interrupted_in_wave_2(world)
    web_release = stopped.members["web"].release_id
    assert web_release and world.journal.load("web", web_release).state == release_states.INTERRUPTED
    record = resume(world.runner(), "storefront", "tester", world.plan_member)
    assert record.id == stopped.id and record.state == states.RELEASED
    assert {n: m.state for n, m in record.members.items()} == {"api": "released", "web": "released", "worker-web": "released"}
    assert record.members["web"].release_id == web_release  # web's own release continued, not a new one
    assert world.journal.load("web", web_release).state == release_states.RELEASED
    assert [r.id for r in world.journal.history("api")] == [stopped.members["api"].release_id]  # api not released twice
    assert any(e["text"] == "resumed by tester" for e in record.events)
    assert all(world.journal.holder(n) is None for n in GOOD)


def test_resume_after_the_runner_died_reads_each_members_own_record(examples_config):
    """A runner that died leaves the train `running` and its member's release `running`: resume
    continues that release on its stored plan."""
    from deployer.train.runner import resume

    world = World(examples_config)
    stopped = interrupted_in_wave_2(world)
    crashed = TrainRecord.from_json(world.journal.train_history("storefront")[0])
    crashed.state = states.RUNNING
    crashed.members["web"].state = states.MEMBER_RUNNING
    world.journal.save_train("storefront", crashed.id, crashed.to_json())
    web = world.journal.load("web", stopped.members["web"].release_id)
    web.state = release_states.RUNNING
    world.journal.save(web)
    record = resume(world.runner(), "storefront", "tester", world.plan_member)
    assert record.state == states.RELEASED and record.members["web"].release_id == web.id
    assert world.targets["web"].weights_now == {"blue": 0, "green": 100}


def test_resume_and_rollback_refuse_without_a_run_to_act_on_or_while_someone_holds_a_member(examples_config):
    from deployer.train.runner import resume, roll_back

    world = World(examples_config)
    with pytest.raises(UsageError, match="train storefront: no runs yet; nothing to resume"):
        resume(world.runner(), "storefront", "tester", world.plan_member)
    world.release()
    with pytest.raises(UsageError, match=r"no unfinished run to resume \(last: .* released\)"):
        resume(world.runner(), "storefront", "tester", world.plan_member)
    holder = world.runner()
    holder.acquire_all(["web"], "ci#7", "other")
    with pytest.raises(Locked, match="train: web is locked by ci#7"):
        roll_back(world.runner(), "storefront", "tester")
    assert world.last_train().state == states.RELEASED  # nothing changed


def test_rollback_of_a_released_train_puts_every_member_back_newest_wave_first(examples_config):
    from deployer.train.runner import roll_back

    world = World(examples_config)
    released = world.release()
    record = roll_back(world.runner(), "storefront", "tester")
    assert record.id == released.id and record.state == states.ROLLED_BACK
    assert record.reason == "rollback asked by tester"
    assert {n: m.state for n, m in record.members.items()} == {n: "rolled_back" for n in GOOD}
    assert world.targets["api"].weights_now == {"blue": 100, "green": 0}  # the warm color: one traffic call
    assert world.targets["web"].weights_now == {"blue": 100, "green": 0}
    assert all(world.journal.latest(n).strategy == "rollback" for n in GOOD)
    order = [e["text"].split(":")[0] for e in record.events if e["text"].endswith("rolled back by the train")]
    assert order.index("api") == 2  # wave 2 (web, worker-web) before wave 1 (api)
    with pytest.raises(UsageError, match="left nothing to roll back"):
        roll_back(world.runner(), "storefront", "tester")


def test_rollback_of_an_interrupted_train_undoes_the_released_and_the_stopped_members(examples_config):
    from deployer.train.runner import roll_back

    world = World(examples_config)
    stopped = interrupted_in_wave_2(world)
    record = roll_back(world.runner(), "storefront", "tester")
    assert record.members["api"].state == "rolled_back" and record.members["web"].state == "rolled_back"
    assert world.journal.load("web", stopped.members["web"].release_id).state == release_states.ROLLED_BACK
    assert world.targets["api"].weights_now == {"blue": 100, "green": 0}


def test_rollback_refuses_when_a_member_was_released_since_the_train(examples_config):
    from deployer.release.service import release as release_one
    from deployer.train.runner import roll_back

    world = World(examples_config)
    world.release()
    service = examples_config.services["web"]
    release_one(world.executor("web", lambda: False), request_from_spec(service, "example/web:7"), "someone")
    with pytest.raises(UsageError) as info:
        roll_back(world.runner(), "storefront", "tester")
    assert "web was released since this train (canary" in info.value.message and "by someone, released)" in info.value.message
    assert "`deployer rollback web`" in info.value.hint
    assert world.last_train().state == states.RELEASED and world.journal.latest("api").strategy == "bluegreen"


def test_a_members_unexpected_error_halts_the_train_and_its_release_is_rolled_back(examples_config):
    world = World(examples_config)
    target = world.targets["web"]
    original = target.set_weights
    calls = {"n": 0}

    def flaky(weights):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return original(weights)

    target.set_weights = flaky
    with pytest.raises(RolledBack) as info:
        world.release()
    assert "halted by web: unexpected error: RuntimeError('boom')" in info.value.message
    record = world.last_train()
    assert record.members["web"].state == "rolled_back"  # its release was left running: the train rolled it back
    assert world.journal.latest("web").state == release_states.ROLLED_BACK
    assert target.weights_now == {"blue": 100, "green": 0}
