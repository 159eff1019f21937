"""The webhook receiver over real HTTP on loopback (waitress), with a recording release runner."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import urllib3

from deployer.ci import signatures
from deployer.ci.hooks_config import HooksConfig, load_hooks
from deployer.ci.webhook import Receiver, Store, make_server
from deployer.errors import ConfigError

SECRET = b"It's a Secret to Everybody"
ROOT = Path(__file__).resolve().parent.parent.parent


def test_githubs_published_test_vector():
    assert signatures.hub_signature(SECRET, b"Hello, World!") == \
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signatures.verify_hub(SECRET, b"Hello, World!", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    assert not signatures.verify_hub(SECRET, b"Hello, World?", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


class Runner:
    """Records releases (a train's as ("train:NAME", {member: image})); each takes `seconds`; counts
    how many run at once per service (a train runs on every member)."""

    def __init__(self, seconds: float = 0.05):
        self.seconds = seconds
        self.calls: list[tuple[str, str | dict]] = []
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, job):
        services = sorted(job.images) if job.train else [job.service]
        with self.lock:
            self.calls.append((f"train:{job.train}", dict(job.images)) if job.train else (job.service, job.image))
            for service in services:
                self.running[service] = self.running.get(service, 0) + 1
                self.most[service] = max(self.most.get(service, 0), self.running[service])
        time.sleep(self.seconds)
        with self.lock:
            for service in services:
                self.running[service] -= 1
        if job.train:
            return 0, {"result": "released", "id": "t-1", "train": job.train, "reason": "",
                       "members": {m: {"wave": 1, "state": "released", "image": i, "release_id": f"r-{m}"}
                                   for m, i in job.images.items()}}
        return 0, {"result": "released", "release_id": "r-1"}


@pytest.fixture
def hooks():
    return HooksConfig.model_validate({
        "max_body_bytes": 4096,
        "callback_url": "http://127.0.0.1:9/outcome",
        "max_connections_per_client": 128,  # the burst below comes from 64 threads of one address
        "releases": [
            {"service": "web", "repository": "acme/web", "image": "registry/web:{tag}", "tag_pattern": r"^v\d+\.\d+\.\d+$"},
            {"service": "api", "image": "registry/api:{tag}", "tag_pattern": r"^\d+$", "strategy": "bluegreen"},
            {"train": "storefront", "repository": "acme/storefront", "tag_pattern": r"^\d+$",
             "images": {"api": "registry/api:{tag}", "web": "registry/web:{tag}", "worker-web": "registry/worker-web:{tag}"}},
        ],
    })


@contextlib.contextmanager
def serving(receiver, hooks, **overrides):
    """The receiver behind `serve`'s waitress server (its limits), on a free loopback port."""
    srv = make_server(receiver, hooks, host="127.0.0.1", port=0, asyncore_loop_timeout=0.1, **overrides)

    def run():
        try:
            srv.run()
        except (OSError, ValueError):  # the loop's poll() on the sockets closed below, at teardown
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.task_dispatcher.shutdown()
        for channel in list(srv._map.values()):  # the listening socket and the wake-up pipe: the loop ends
            channel.close()
        thread.join(timeout=5)


class Client:
    def __init__(self, base: str, runner, receiver, callbacks=None):
        self.base, self.runner, self.receiver, self.callbacks = base, runner, receiver, callbacks
        self.http = urllib3.PoolManager(maxsize=32, retries=False, timeout=urllib3.Timeout(connect=5, read=10))

    def post(self, path, body: bytes, headers: dict):
        return self.http.request("POST", self.base + path, body=body, headers=headers)

    def get(self, path):
        return self.http.request("GET", self.base + path)

    def github(self, payload: dict, delivery: str, event: str = "push", secret: bytes = SECRET, signature=None):
        body = json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
        if signature is not False:
            headers["X-Hub-Signature-256"] = signature or signatures.hub_signature(secret, body)
        return self.post("/hooks/github", body, headers)

    def wait_done(self, release_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = json.loads(self.get(f"/releases/{release_id}").data)
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"{release_id} still running")


@pytest.fixture
def server(hooks, tmp_path):
    runner = Runner()
    callbacks = []
    receiver = Receiver(hooks, SECRET, runner, Store(tmp_path / "releases.json"),
                        callback=lambda url, secret, payload: callbacks.append((url, payload)))
    with serving(receiver, hooks) as srv:
        yield Client(f"http://127.0.0.1:{srv.effective_port}", runner, receiver, callbacks)


def tag_push(tag="v1.2.3", repo="acme/web"):
    return {"ref": f"refs/tags/{tag}", "repository": {"full_name": repo}}


def test_signed_tag_push_is_accepted_and_released(server):
    r = server.github(tag_push(), "d-1")
    assert r.status == 202
    body = json.loads(r.data)
    assert r.headers["Location"] == f"/releases/{body['release_id']}"
    job = server.wait_done(body["release_id"])
    assert job["state"] == "released" and job["image"] == "registry/web:v1.2.3"
    assert server.runner.calls == [("web", "registry/web:v1.2.3")]
    assert server.callbacks[0][1]["result"] == "released"


@pytest.mark.parametrize("signature", [False, "sha256=" + "0" * 64, "sha1=abc", "sha256=short"])
def test_bad_or_missing_signature_is_401_and_starts_nothing(server, signature):
    r = server.github(tag_push(), "d-bad", signature=signature)
    assert r.status == 401
    assert server.runner.calls == [] and server.receiver.store.jobs == {}


def test_signature_with_another_secret_is_401(server):
    assert server.github(tag_push(), "d-x", secret=b"not the secret at all!").status == 401
    assert server.runner.calls == []


def test_redelivery_returns_the_same_release_and_starts_nothing(server):
    first = json.loads(server.github(tag_push(), "d-2").data)["release_id"]
    again = server.github(tag_push(), "d-2")
    assert again.status == 200 and json.loads(again.data)["release_id"] == first and json.loads(again.data)["replay"]
    server.wait_done(first)
    time.sleep(0.2)
    assert len(server.runner.calls) == 1


def test_replays_survive_a_restart(server, hooks, tmp_path):
    first = json.loads(server.github(tag_push(), "d-3").data)["release_id"]
    server.wait_done(first)
    restarted = Store(tmp_path / "releases.json")
    job, new = restarted.claim("d-3", lambda: pytest.fail("a redelivery must not make a new job"))
    assert not new and job.id == first


def test_oversized_body_is_413(server):
    body = json.dumps({**tag_push(), "padding": "x" * 10_000}).encode()
    r = server.post("/hooks/github", body, {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-big",
                                            "X-Hub-Signature-256": signatures.hub_signature(SECRET, body)})
    assert r.status == 413 and server.runner.calls == []


@pytest.mark.parametrize("payload,event,status", [
    (tag_push(repo="acme/unknown"), "push", 404),
    ({"ref": "refs/heads/main", "repository": {"full_name": "acme/web"}}, "push", 422),
    (tag_push(tag="latest"), "push", 422),
    (tag_push(tag="v1.2.3;rm -rf /"), "push", 422),
    (tag_push(), "issues", 400),
    ({"action": "created", "release": {"tag_name": "v1.0.0"}, "repository": {"full_name": "acme/web"}}, "release", 422),
])
def test_unregistered_or_unsuitable_deliveries_are_4xx(server, payload, event, status):
    assert server.github(payload, f"d-{status}-{event}", event=event).status == status
    assert server.runner.calls == [] and server.receiver.store.jobs == {}


def test_published_release_event_and_ping(server):
    payload = {"action": "published", "release": {"tag_name": "v2.0.0"}, "repository": {"full_name": "acme/web"}}
    assert server.github(payload, "d-rel", event="release").status == 202
    assert server.github({"zen": "hi"}, "d-ping", event="ping").status == 200


def standard(body: bytes, msg_id: str, ts: int) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": signatures.standard_signature(SECRET, msg_id, str(ts), body)}


def test_standard_webhooks_from_jenkins(server):
    body = json.dumps({"event": "image.pushed", "service": "api", "tag": "42"}).encode()
    r = server.post("/hooks/generic", body, standard(body, "msg_1", int(time.time())))
    assert r.status == 202
    assert server.wait_done(json.loads(r.data)["release_id"])["image"] == "registry/api:42"
    stale = standard(body, "msg_2", int(time.time()) - 301)
    assert server.post("/hooks/generic", body, stale).status == 401
    unknown = json.dumps({"event": "image.pushed", "service": "db", "tag": "1"}).encode()
    assert server.post("/hooks/generic", unknown, standard(unknown, "msg_3", int(time.time()))).status == 404
    other = json.dumps({"event": "build.done", "service": "api", "tag": "1"}).encode()
    assert server.post("/hooks/generic", other, standard(other, "msg_4", int(time.time()))).status == 400
    assert len(server.runner.calls) == 1


def test_generic_with_hub_signature(server):
    body = json.dumps({"event": "image.pushed", "service": "api", "tag": "7"}).encode()
    r = server.post("/hooks/generic", body, {"X-Delivery-Id": "j-1", "X-Hub-Signature-256": signatures.hub_signature(SECRET, body)})
    assert r.status == 202


def test_concurrent_deliveries_for_one_service_run_one_at_a_time(server):
    server.runner.seconds = 0.2
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: server.github(tag_push(f"v1.0.{i}"), f"d-c{i}"), range(6)))
    assert [r.status for r in responses] == [202] * 6
    for r in responses:
        server.wait_done(json.loads(r.data)["release_id"])
    assert len(server.runner.calls) == 6 and server.runner.most["web"] == 1


def test_keeps_answering_during_a_burst_of_bad_requests(server):
    body = json.dumps(tag_push()).encode()
    bad = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "burst", "X-Hub-Signature-256": "sha256=" + "f" * 64}
    latencies = []

    def health():
        started = time.monotonic()
        assert server.get("/healthz").status == 200
        latencies.append(time.monotonic() - started)

    with ThreadPoolExecutor(64) as pool:
        bursts = [pool.submit(server.post, "/hooks/github", body, bad) for _ in range(200)]
        for _ in range(5):
            health()
        statuses = [f.result().status for f in bursts]
    assert statuses == [401] * 200 and server.runner.calls == []
    assert server.github(tag_push(), "after-burst").status == 202
    assert len(latencies) == 5


def test_secrets_are_never_logged_or_returned(server, caplog):
    caplog.set_level(logging.DEBUG)
    r = server.github(tag_push(), "d-log")
    server.wait_done(json.loads(r.data)["release_id"])
    server.github(tag_push(), "d-log2", secret=b"wrong secret wrong secret")
    assert SECRET.decode() not in caplog.text
    assert SECRET.decode() not in json.dumps(server.receiver.store.jobs, default=str)


def test_refuses_to_start_without_a_secret(tmp_path):
    config = load_hooks(ROOT / "examples" / "hooks.yaml")
    with pytest.raises(ConfigError):
        config.secret({})
    assert config.secret({"DEPLOYER_WEBHOOK_SECRET": SECRET.decode()}) == SECRET


def test_bad_hooks_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "hooks.yaml"
    path.write_text("releases:\n  - service: web\n    image: registry/web\n")
    with pytest.raises(ConfigError) as info:
        load_hooks(path)
    assert any(line.startswith(f"{path}:3: releases.0.image: expected `{{tag}}`") for line in info.value.lines()), info.value.lines()



@pytest.mark.parametrize("args,env,first_line", [
    (["--config", "missing.yaml"], {"DEPLOYER_WEBHOOK_SECRET": SECRET.decode()}, "error: missing.yaml: file not found"),
    (["--config", str(ROOT / "examples" / "hooks.yaml")], {}, "error: DEPLOYER_WEBHOOK_SECRET: the webhook secret is empty"),
    (["--config", str(ROOT / "examples" / "hooks.yaml"), "--listen", "localhost"], {"DEPLOYER_WEBHOOK_SECRET": SECRET.decode()},
     "error: --listen localhost: expected host:port, e.g. 127.0.0.1:8787"),
])
def test_serve_refuses_bad_input_with_one_line_and_exit_2(capsys, monkeypatch, args, env, first_line):
    from deployer.cli import main

    monkeypatch.delenv("DEPLOYER_WEBHOOK_SECRET", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as info:
        main(["webhook", "serve", *args])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[0] == first_line



# ---------------------------------------------------------------- trains
STOREFRONT_42 = {"api": "registry/api:42", "web": "registry/web:42", "worker-web": "registry/worker-web:42"}


def test_signed_tag_push_for_a_train_starts_one_job_with_every_members_image(server):
    r = server.github(tag_push("42", repo="acme/storefront"), "d-train")
    assert r.status == 202
    body = json.loads(r.data)
    assert body["train"] == "storefront" and body["images"] == STOREFRONT_42 and "service" not in body
    job = server.wait_done(body["release_id"])
    assert server.runner.calls == [("train:storefront", STOREFRONT_42)]  # one job, the whole train
    assert job["state"] == "released" and job["train"] == "storefront" and job["images"] == STOREFRONT_42
    assert job["members"] == {m: {"state": "released", "release_id": f"r-{m}"} for m in STOREFRONT_42}
    outcome = server.callbacks[0][1]
    assert outcome["train"] == "storefront" and outcome["result"] == "released" and outcome["halted_by"] == ""
    assert outcome["members"] == job["members"] and "service" not in outcome


def test_generic_delivery_names_a_train_or_a_service(server):
    def generic(payload: dict, msg_id: str):
        body = json.dumps(payload).encode()
        return server.post("/hooks/generic", body, standard(body, msg_id, int(time.time())))

    r = generic({"event": "image.pushed", "train": "storefront", "tag": 42}, "msg_t1")
    assert r.status == 202 and json.loads(r.data)["images"] == STOREFRONT_42
    server.wait_done(json.loads(r.data)["release_id"])
    both = generic({"event": "image.pushed", "train": "storefront", "service": "api", "tag": "1"}, "msg_t2")
    assert both.status == 400 and json.loads(both.data)["error"] == "payload: expected exactly one of `service` and `train`"
    neither = generic({"event": "image.pushed", "tag": "1"}, "msg_t3")
    assert neither.status == 400
    assert generic({"event": "image.pushed", "train": "checkout", "tag": "1"}, "msg_t4").status == 404
    assert generic({"event": "image.pushed", "train": "storefront", "tag": "v1"}, "msg_t5").status == 422
    assert generic({"event": "image.pushed", "service": "storefront", "tag": "1"}, "msg_t6").status == 404  # a train is no service
    assert server.runner.calls == [("train:storefront", STOREFRONT_42)]


def test_a_train_never_runs_beside_a_release_of_one_of_its_members(server):
    server.runner.seconds = 0.2
    with ThreadPoolExecutor(8) as pool:
        deliveries = [(tag_push(f"v1.0.{i}"), f"d-m{i}") for i in range(3)] + \
                     [(tag_push(str(i), repo="acme/storefront"), f"d-t{i}") for i in range(3)]
        responses = list(pool.map(lambda d: server.github(*d), deliveries))
    assert [r.status for r in responses] == [202] * 6
    for r in responses:
        server.wait_done(json.loads(r.data)["release_id"])
    assert len(server.runner.calls) == 6 and server.runner.most == {"web": 1, "api": 1, "worker-web": 1}


def test_cli_runner_runs_the_train_command_with_every_member_without_the_secret(hooks, tmp_path, monkeypatch):
    import subprocess

    from deployer.ci import webhook

    seen = []
    report = {"result": "rolled_back", "exit_code": 3, "id": "t-9", "train": "storefront", "reason": "web: error_rate_above_limit: 20%",
              "members": {"api": {"wave": 1, "state": "rolled_back", "image": "registry/api:42", "release_id": "r-a"},
                          "web": {"wave": 2, "state": "failed", "image": "registry/web:42", "release_id": "r-w",
                                  "reason": "error_rate_above_limit: 20%"},
                          "worker-web": {"wave": 2, "state": "rolled_back", "image": "registry/worker-web:42", "release_id": "r-ww"}}}

    def run(args, env, **kw):
        seen.append((args, env))
        return subprocess.CompletedProcess(args, 3, stdout=json.dumps(report), stderr="")

    monkeypatch.setattr(webhook.subprocess, "run", run)
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET.decode())
    callbacks = []
    receiver = Receiver(hooks, SECRET, webhook.cli_runner(hooks, "DEPLOYER_WEBHOOK_SECRET"), Store(tmp_path / "releases.json"),
                        callback=lambda url, secret, payload: callbacks.append(payload))
    with serving(receiver, hooks) as srv:
        client = Client(f"http://127.0.0.1:{srv.effective_port}", None, receiver)
        job = client.wait_done(json.loads(client.github(tag_push("42", repo="acme/storefront"), "d-cli").data)["release_id"])
    (args, env), = seen
    assert args[args.index("-o"):] == ["-o", "json", "-c", "deployer.yaml", "train", "release", "storefront",
                                       "--image", "api=registry/api:42", "--image", "web=registry/web:42",
                                       "--image", "worker-web=registry/worker-web:42"]
    assert "DEPLOYER_WEBHOOK_SECRET" not in env and env["DEPLOYER_ACTOR"] == "webhook:d-cli"
    assert job["state"] == "rolled_back" and job["exit_code"] == 3 and job["members"]["web"] == {"state": "failed", "release_id": "r-w"}
    assert callbacks == [{"release_id": job["id"], "train": "storefront", "images": STOREFRONT_42, "result": "rolled_back",
                          "exit_code": 3, "reason": report["reason"], "rollback_reason": report["reason"], "halted_by": "web",
                          "members": job["members"]}]
    restarted = Store(tmp_path / "releases.json").get(job["id"])  # a train's job survives a restart as one
    assert restarted.train == "storefront" and restarted.images == STOREFRONT_42 and restarted.members == job["members"]


MEMBERS = "    images:\n      api: registry/api:{tag}\n      web: registry/web:{tag}\n"


@pytest.mark.parametrize("text,line,message", [
    ("releases:\n  - service: web\n    train: storefront\n    image: registry/web:{tag}\n" + MEMBERS,
     3, "releases.0.train: give either `service` (with `image`) or `train` (with `images`), not both"),
    ("releases:\n  - tag_pattern: '^\\d+$'\n", 2, "releases.0: expected `service` (with `image`) or `train` (with `images`)"),
    ("releases:\n  - train: storefront\n", 2, "releases.0.images: a train entry needs `images`"),
    ("releases:\n  - train: storefront\n    images: {}\n", 3, "releases.0.images: a train entry needs `images`"),
    ("releases:\n  - train: storefront\n    images:\n      api: registry/api:{tag}\n      web: registry/web:latest\n",
     5, "releases.0.images.web: expected `{tag}` in the image"),
    ("releases:\n  - train: storefront\n    images:\n      Web_1: registry/web:{tag}\n", 4, "releases.0.images.Web_1: expected lowercase letters"),
    ("releases:\n  - train: storefront\n" + MEMBERS + "    image: registry/web:{tag}\n", 6, "releases.0.image: a train entry takes `images`"),
    ("releases:\n  - train: storefront\n" + MEMBERS + "    strategy: canary\n", 6, "releases.0.strategy: a train's members release by their own strategies"),
    ("releases:\n  - service: web\n    image: registry/web:{tag}\n" + MEMBERS, 4, "releases.0.images: a service entry takes `image`"),
    ("releases:\n  - train: storefront\n" + MEMBERS + "  - service: web\n    image: registry/web:{tag}\n  - train: storefront\n" + MEMBERS,
     8, "releases.2.train: one entry per train: storefront has one already (releases.0)"),
    ("releases:\n  - service: web\n    repository: acme/shop\n    image: registry/web:{tag}\n"
     "  - train: storefront\n    repository: acme/shop\n" + MEMBERS, 6, "releases.1.repository: one entry per repository: acme/shop"),
])
def test_bad_train_entries_name_file_line_and_field(tmp_path, text, line, message):
    path = tmp_path / "hooks.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_hooks(path)
    assert len(info.value.lines()) == 1 and info.value.lines()[0].startswith(f"{path}:{line}: {message}"), info.value.lines()


def test_a_train_and_its_members_may_each_have_an_entry(tmp_path):
    path = tmp_path / "hooks.yaml"
    path.write_text("releases:\n  - service: web\n    image: registry/web:{tag}\n  - train: web\n" + MEMBERS)
    assert [r.key for r in load_hooks(path).releases] == [("service", "web"), ("train", "web")]


def test_serve_refuses_a_bad_train_entry_with_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from deployer.cli import main

    path = tmp_path / "hooks.yaml"
    path.write_text("releases:\n  - train: storefront\n" + MEMBERS + "    strategy: canary\n")
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET.decode())
    with pytest.raises(SystemExit) as info:
        main(["webhook", "serve", "--config", str(path)])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[0].startswith(f"error: {path}:6: releases.0.strategy: a train's members")


def test_the_example_entries_match_the_example_spec():
    from deployer.ci.hooks_config import check_against_spec
    from deployer.spec import load_config

    spec_path = ROOT / "examples" / "deployer.yaml"
    check_against_spec(load_hooks(ROOT / "examples" / "hooks.yaml"), load_config(spec_path), Path("hooks.yaml"), spec_path)


@pytest.mark.parametrize("entry,line", [
    ("  - service: shop\n    image: r/shop:{tag}\n",
     "releases.0.service: no service shop in {spec} (services: web, api, worker-web, checkout, orders)"),
    ("  - train: shop\n" + MEMBERS, "releases.0.train: no train shop in {spec} (trains: storefront)"),
    ("  - train: storefront\n" + MEMBERS, "releases.0.images: train storefront needs an image for every member; missing: worker-web"),
    ("  - train: storefront\n" + MEMBERS + "      worker-web: r/w:{tag}\n      shop: r/shop:{tag}\n",
     "releases.0.images: shop: not a member of train storefront (members: api, web, worker-web)"),
])
def test_serve_refuses_an_entry_the_spec_does_not_have_before_it_listens(tmp_path, capsys, monkeypatch, entry, line):
    from deployer.cli import main

    spec = ROOT / "examples" / "deployer.yaml"
    path = tmp_path / "hooks.yaml"
    path.write_text(f"deployer_config: {spec}\nreleases:\n" + entry)
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET.decode())

    def served(*args):
        raise AssertionError("the receiver started")

    monkeypatch.setattr("deployer.ci.webhook.serve", served)
    with pytest.raises(SystemExit) as info:
        main(["webhook", "serve", "--config", str(path)])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[0] == f"error: {path}: " + line.format(spec=spec)
