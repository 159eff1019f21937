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
    """Records releases; each takes `seconds`; counts how many run at once per service."""

    def __init__(self, seconds: float = 0.05):
        self.seconds = seconds
        self.calls: list[tuple[str, str]] = []
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, job):
        with self.lock:
            self.calls.append((job.service, job.image))
            self.running[job.service] = self.running.get(job.service, 0) + 1
            self.most[job.service] = max(self.most.get(job.service, 0), self.running[job.service])
        time.sleep(self.seconds)
        with self.lock:
            self.running[job.service] -= 1
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
