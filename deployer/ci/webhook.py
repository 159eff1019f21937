"""The webhook receiver: a WSGI app (served by waitress) that turns a signed delivery into a release.

Order of checks, cheapest and safest first: body size (413), signature over the raw body (401),
delivery id, event allowlist, payload -> a release registered in hooks.yaml (4xx). Only then is
anything started: 202 with `Location: /releases/{id}` at once, the release itself running in a
per-service worker, so deliveries for one service run one after another (deployer's own lock
still guards against every other caller). A redelivery (same delivery id) gets the same release
id back and starts nothing. Secrets never reach a log line, a response or a child process.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from deployer.ci import signatures
from deployer.ci.hooks_config import HookRelease, HooksConfig

log = logging.getLogger("deployer.webhook")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")  # what an image tag may be
RESULTS_BY_EXIT = {0: "released", 3: "rolled_back", 6: "locked", 130: "interrupted"}


@dataclass
class Job:
    id: str
    service: str
    image: str
    delivery: str
    strategy: str | None = None
    state: str = "queued"  # queued | running | released | rolled_back | failed | locked | interrupted
    exit_code: int | None = None
    accepted_at: float = 0.0
    finished_at: float | None = None
    report: dict = field(default_factory=dict)


class Rejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Store:
    """Deliveries and jobs, remembered across restarts in one JSON file."""

    def __init__(self, path: Path | None):
        self.path = path
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.deliveries: dict[str, str] = {}
        if path and path.exists():
            data = json.loads(path.read_text())
            self.jobs = {k: Job(**v) for k, v in data.get("jobs", {}).items()}
            self.deliveries = data.get("deliveries", {})
            for job in self.jobs.values():
                if job.state in ("queued", "running"):
                    job.state = "unknown"  # the receiver stopped meanwhile; `deployer status` knows

    def claim(self, delivery: str, make: Callable[[], Job]) -> tuple[Job, bool]:
        """The job of this delivery: (existing, False) for a redelivery, else (new, True). Atomic."""
        with self.lock:
            if delivery in self.deliveries:
                return self.jobs[self.deliveries[delivery]], False
            job = make()
            self.jobs[job.id] = job
            self.deliveries[delivery] = job.id
            self._save()
            return job, True

    def update(self, job: Job, **changes) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(job, key, value)
            self._save()

    def get(self, release_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(release_id)

    def _save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"jobs": {k: asdict(v) for k, v in self.jobs.items()}, "deliveries": self.deliveries}))
            tmp.replace(self.path)


def cli_runner(config: HooksConfig, secret_env: str) -> Callable[[Job], tuple[int, dict]]:
    """Run `deployer release` as a child process (its JSON report on stdout), without the secret."""
    def run(job: Job) -> tuple[int, dict]:
        args = [sys.executable, "-m", "deployer", "-o", "json", "-c", config.deployer_config,
                "release", job.service, "--image", job.image]
        if job.strategy:
            args += ["--strategy", job.strategy]
        env = {k: v for k, v in os.environ.items() if k != secret_env}
        env["DEPLOYER_ACTOR"] = f"webhook:{job.delivery}"
        proc = subprocess.run(args, env=env, capture_output=True, text=True)
        try:
            report = json.loads(proc.stdout) if proc.stdout.strip() else {}
        except ValueError:
            report = {}
        if proc.returncode and not report:
            report = {"error": " / ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit {proc.returncode}"}
        return proc.returncode, report
    return run


def post_callback(url: str, secret: bytes, payload: dict) -> None:
    import urllib3

    body = json.dumps(payload).encode()
    try:
        urllib3.PoolManager(retries=urllib3.Retry(3, backoff_factor=1), timeout=10).request(
            "POST", url, body=body, headers={"Content-Type": "application/json",
                                             "X-Hub-Signature-256": signatures.hub_signature(secret, body)})
    except urllib3.exceptions.HTTPError as exc:
        log.warning("callback for release %s failed: %s", payload.get("release_id"), type(exc).__name__)


class Receiver:
    def __init__(self, config: HooksConfig, secret: bytes, runner: Callable[[Job], tuple[int, dict]],
                 store: Store | None = None, clock: Callable[[], float] = time.time,
                 callback: Callable[[str, bytes, dict], None] = post_callback):
        self.config, self.secret, self.runner, self.clock, self.callback = config, secret, runner, clock, callback
        self.store = store or Store(None)
        self.queues: dict[str, queue.Queue] = {}
        self.queues_lock = threading.Lock()

    # ------------------------------------------------------------ WSGI
    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.config.max_body_bytes
        try:
            response = self.route(request)
        except Rejected as rejected:
            response = self.json({"error": rejected.message}, rejected.status)
        except RequestEntityTooLarge:
            response = self.json({"error": f"body larger than {self.config.max_body_bytes} bytes"}, 413)
        return response(environ, start_response)

    @staticmethod
    def json(data: dict, status: int, headers: dict | None = None) -> Response:
        return Response(json.dumps(data, default=str), status=status, headers=headers, mimetype="application/json")

    def route(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and path == "/healthz":
            return self.json({"ok": True}, 200)
        if request.method == "GET" and path.startswith("/releases/"):
            job = self.store.get(path.removeprefix("/releases/"))
            if job is None:
                raise Rejected(404, "no such release")
            return self.json(asdict(job), 200)
        if path in ("/hooks/github", "/hooks/generic"):
            if request.method != "POST":
                raise Rejected(405, "POST only")
            return self.deliver(request, path.rsplit("/", 1)[1])
        raise Rejected(404, "not found")

    # ------------------------------------------------------------ deliveries
    def deliver(self, request: Request, source: str) -> Response:
        length = request.content_length
        if length is not None and length > self.config.max_body_bytes:
            raise Rejected(413, f"body larger than {self.config.max_body_bytes} bytes")
        body = request.get_data(cache=False)  # raises RequestEntityTooLarge past the cap
        headers = request.headers
        if source == "github" or headers.get("X-Hub-Signature-256"):
            if not signatures.verify_hub(self.secret, body, headers.get("X-Hub-Signature-256")):
                raise Rejected(401, "bad or missing signature")
        else:
            ok, why = signatures.verify_standard(self.secret, body, headers.get("webhook-id"),
                                                 headers.get("webhook-timestamp"), headers.get("webhook-signature"),
                                                 self.clock())
            if not ok:
                raise Rejected(401, why)
        delivery = headers.get("X-GitHub-Delivery") if source == "github" else (headers.get("webhook-id") or headers.get("X-Delivery-Id"))
        if not delivery or len(delivery) > 128:
            raise Rejected(400, "missing delivery id")
        try:
            payload = json.loads(body)
        except ValueError:
            raise Rejected(400, "body is not JSON") from None
        if not isinstance(payload, dict):
            raise Rejected(400, "body is not a JSON object")
        if source == "github":
            event = headers.get("X-GitHub-Event", "")
            if event not in self.config.github_events:
                raise Rejected(400, f"event {event!r} not allowed")
            if event == "ping":
                return self.json({"ok": True, "pong": True}, 200)
            entry, tag = self.select_github(event, payload)
        else:
            entry, tag = self.select_generic(payload)
        image = entry.image.replace("{tag}", tag)

        def make() -> Job:
            return Job(id=f"wh-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(self.clock()))}-{secrets.token_hex(4)}",
                       service=entry.service, image=image, delivery=delivery, strategy=entry.strategy,
                       accepted_at=self.clock())

        job, new = self.store.claim(delivery, make)
        location = {"Location": f"/releases/{job.id}"}
        if not new:
            log.info("delivery %s replayed: release %s, nothing started", delivery, job.id)
            return self.json({"release_id": job.id, "state": job.state, "replay": True}, 200, location)
        log.info("delivery %s accepted: release %s of %s to %s", delivery, job.id, image, entry.service)
        self.enqueue(job)
        return self.json({"release_id": job.id, "service": job.service, "image": image, "state": job.state}, 202, location)

    def select_github(self, event: str, payload: dict) -> tuple[HookRelease, str]:
        repository = (payload.get("repository") or {}).get("full_name")
        entries = [r for r in self.config.releases if r.repository and r.repository == repository]
        if not entries:
            raise Rejected(404, f"repository {repository!r} is not registered")
        if event == "push":
            ref = str(payload.get("ref", ""))
            if not ref.startswith("refs/tags/"):
                raise Rejected(422, "not a tag push")
            tag = ref.removeprefix("refs/tags/")
        else:  # release
            if payload.get("action") != "published":
                raise Rejected(422, "release not published")
            tag = str((payload.get("release") or {}).get("tag_name", ""))
        return entries[0], self.checked_tag(entries[0], tag)

    def select_generic(self, payload: dict) -> tuple[HookRelease, str]:
        event = payload.get("event")
        if event not in self.config.generic_events:
            raise Rejected(400, f"event {event!r} not allowed")
        entry = self.config.entry(str(payload.get("service", "")))
        if entry is None:
            raise Rejected(404, f"service {payload.get('service')!r} is not registered")
        return entry, self.checked_tag(entry, str(payload.get("tag", "")))

    @staticmethod
    def checked_tag(entry: HookRelease, tag: str) -> str:
        if not TAG.fullmatch(tag) or not re.fullmatch(entry.tag_pattern, tag):
            raise Rejected(422, f"tag {tag[:128]!r} does not match {entry.tag_pattern}")
        return tag

    # ------------------------------------------------------------ workers
    def enqueue(self, job: Job) -> None:
        with self.queues_lock:
            jobs = self.queues.get(job.service)
            if jobs is None:
                jobs = self.queues[job.service] = queue.Queue()
                threading.Thread(target=self.work, args=(jobs,), name=f"release-{job.service}", daemon=True).start()
        jobs.put(job)

    def work(self, jobs: queue.Queue) -> None:
        while True:
            job = jobs.get()
            self.store.update(job, state="running")
            try:
                code, report = self.runner(job)
            except Exception as exc:  # noqa: BLE001 - a broken run is reported, the worker lives on
                code, report = 1, {"error": f"{type(exc).__name__}: {exc}"}
            state = report.get("result") or RESULTS_BY_EXIT.get(code, "failed")
            self.store.update(job, state=state, exit_code=code, report=report, finished_at=self.clock())
            log.info("release %s of %s: %s (exit %s)", job.id, job.service, state, code)
            if self.config.callback_url:
                self.callback(self.config.callback_url, self.secret,
                              {"release_id": job.id, "service": job.service, "image": job.image, "result": state,
                               "exit_code": code, "rollback_reason": report.get("rollback_reason", "")})
            jobs.task_done()


def serve(config: HooksConfig, secret: bytes, runner=None) -> None:
    """Serve until interrupted (waitress: a production WSGI server with request-size limits)."""
    import waitress

    state = Path(os.path.expanduser(config.state_dir)) / "releases.json"
    receiver = Receiver(config, secret, runner or cli_runner(config, config.secret_env), Store(state))
    host, port = config.host_port()
    log.info("webhook receiver on http://%s:%s (POST /hooks/github, /hooks/generic)", host, port)
    waitress.serve(receiver, host=host, port=port, threads=8, max_request_body_size=config.max_body_bytes,
                   channel_timeout=30, connection_limit=256, ident="deployer")
