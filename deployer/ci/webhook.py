"""The webhook receiver: a WSGI app (served by waitress) that turns a signed delivery into a release.

Order of checks, cheapest and safest first: body size (413), signature over the raw body (401),
delivery id, event allowlist, payload -> a release registered in hooks.yaml (4xx). Only then is
anything started: 202 with `Location: /releases/{id}` at once, the release itself running in a
worker per entry (a service, or a train), and never at the same time as another job of the
receiver's that touches one of its services (a train holds every member's), so deliveries for one
service run one after another (deployer's own lock still guards against every other caller). A
redelivery (same delivery id) gets the same release id back and starts nothing. Secrets never reach
a log line, a response or a child process.
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

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from deployer.ci import signatures
from deployer.ci import webhook_payloads as payloads
from deployer.ci.hooks_config import HookRelease, HooksConfig
from deployer.ci.webhook_payloads import PayloadError
from deployer.reporting.train_report import halted_by, member_states

log = logging.getLogger("deployer.webhook")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")  # what an image tag may be
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Standard Webhooks: seconds since the epoch (bounded before int())
DELIVERY = re.compile(r"[\x21-\x7e]{1,128}")  # a delivery id: it names a log line and the release's actor
RESULTS_BY_EXIT = {0: "released", 3: "rolled_back", 6: "locked", 130: "interrupted"}


@dataclass
class Job:
    id: str
    service: str  # "" for a train
    image: str  # "" for a train
    delivery: str
    strategy: str | None = None
    state: str = "queued"  # queued | running | released | rolled_back | failed | locked | interrupted
    exit_code: int | None = None
    accepted_at: float = 0.0
    finished_at: float | None = None
    report: dict = field(default_factory=dict)
    train: str | None = None  # a train's entry: `deployer train release TRAIN`
    images: dict[str, str] = field(default_factory=dict)  # a train's member -> image
    members: dict[str, dict] = field(default_factory=dict)  # a train's member -> {state, release_id}, from its report

    @property
    def key(self) -> str:
        """The entry the job came from: one worker each."""
        return f"train:{self.train}" if self.train else self.service

    @property
    def services(self) -> list[str]:
        """The services the job releases, sorted (the order their guards are taken in)."""
        return sorted(self.images) if self.train else [self.service]

    @property
    def label(self) -> str:
        return f"train {self.train}" if self.train else self.service


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


def command(config: HooksConfig, job: Job) -> list[str]:
    """The child's command line: `deployer release SERVICE --image IMAGE`, or for a train's entry
    `deployer train release TRAIN --image MEMBER=IMAGE ...` (every member's image)."""
    args = [sys.executable, "-m", "deployer", "-o", "json", "-c", config.deployer_config]
    if job.train:
        args += ["train", "release", job.train]
        for member, image in job.images.items():
            args += ["--image", f"{member}={image}"]
        return args
    args += ["release", job.service, "--image", job.image]
    if job.strategy:
        args += ["--strategy", job.strategy]
    return args


def cli_runner(config: HooksConfig, secret_env: str) -> Callable[[Job], tuple[int, dict]]:
    """Run `deployer release` (or `deployer train release`) as a child process (its JSON report on
    stdout), without the secret."""
    def run(job: Job) -> tuple[int, dict]:
        args = command(config, job)
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
        self.guards: dict[str, threading.Lock] = {}  # service -> held while a job releasing it runs

    # ------------------------------------------------------------ WSGI
    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.config.max_body_bytes
        try:
            response = self.route(request)
        except (Rejected, PayloadError) as rejected:
            response = self.rejected(request, rejected.status, rejected.message)
        except RequestEntityTooLarge:
            response = self.rejected(request, 413, f"body larger than {self.config.max_body_bytes} bytes")
        except Exception as exc:  # a bug, never a malformed input (those are 4xx above): keep the trace
            log.error("%s %r: %s", request.method, request.path[:128], type(exc).__name__, exc_info=True)
            response = self.json({"error": "internal error"}, 500)
        return response(environ, start_response)

    def rejected(self, request: Request, status: int, message: str) -> Response:
        """A 4xx with its reason on one line, logged as one line (bounded, never the body or a secret)."""
        message = " ".join(message.split())[:300]
        log.info("%s %r: %s %s", request.method, request.path[:128], status, message)
        return self.json({"error": message}, status)

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
            timestamp = headers.get("webhook-timestamp")
            if timestamp is not None and not TIMESTAMP.fullmatch(timestamp):
                raise Rejected(401, "webhook-timestamp is not a number")
            ok, why = signatures.verify_standard(self.secret, body, headers.get("webhook-id"), timestamp,
                                                 headers.get("webhook-signature"), self.clock())
            if not ok:
                raise Rejected(401, why)
        delivery = headers.get("X-GitHub-Delivery") if source == "github" else (headers.get("webhook-id") or headers.get("X-Delivery-Id"))
        if not delivery:
            raise Rejected(400, "missing delivery id")
        if not DELIVERY.fullmatch(delivery):
            raise Rejected(400, "delivery id: expected 1 to 128 printable ASCII characters")
        payload = payloads.load_object(payloads.json_text(body, request.mimetype), request.mimetype)
        if source == "github":
            event = headers.get("X-GitHub-Event", "")
            if event not in self.config.github_events:
                raise Rejected(400, f"event {event[:64]!r} not allowed")
            if event == "ping":
                return self.json({"ok": True, "pong": True}, 200)
            entry, tag = self.select_github(event, payload)
        else:
            entry, tag = self.select_generic(payload)
        images = entry.images_for(tag)

        def make() -> Job:
            job_id = f"wh-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(self.clock()))}-{secrets.token_hex(4)}"
            if entry.train is not None:
                return Job(id=job_id, service="", image="", delivery=delivery, train=entry.train, images=images,
                           accepted_at=self.clock())
            return Job(id=job_id, service=entry.name, image=images[entry.name], delivery=delivery, strategy=entry.strategy,
                       accepted_at=self.clock())

        job, new = self.store.claim(delivery, make)
        location = {"Location": f"/releases/{job.id}"}
        if not new:
            log.info("delivery %s replayed: release %s, nothing started", delivery, job.id)
            return self.json({"release_id": job.id, "state": job.state, "replay": True}, 200, location)
        self.enqueue(job)
        if job.train:
            log.info("delivery %s accepted: release %s of train %s (%s)", delivery, job.id, job.train,
                     ", ".join(f"{m}={i}" for m, i in job.images.items()))
            return self.json({"release_id": job.id, "train": job.train, "images": job.images, "state": job.state}, 202, location)
        log.info("delivery %s accepted: release %s of %s to %s", delivery, job.id, job.image, job.service)
        return self.json({"release_id": job.id, "service": job.service, "image": job.image, "state": job.state}, 202, location)

    def select_github(self, event: str, payload: dict) -> tuple[HookRelease, str]:
        """The entry and tag of a push or release event; the payload's shape is checked first (400)."""
        model = payloads.parse(payloads.Push if event == "push" else payloads.ReleaseEvent, payload)
        repository = model.repository.full_name
        entries = [r for r in self.config.releases if r.repository and r.repository == repository]
        if not entries:
            raise Rejected(404, f"repository {repository!r} is not registered")
        if isinstance(model, payloads.Push):
            if not model.ref.startswith("refs/tags/"):
                raise Rejected(422, "not a tag push")
            if model.deleted:
                raise Rejected(422, "tag deleted")
            tag = model.ref.removeprefix("refs/tags/")
        else:
            if model.action != "published":
                raise Rejected(422, "release not published")
            tag = model.release.tag_name
        return entries[0], self.checked_tag(entries[0], tag)

    def select_generic(self, payload: dict) -> tuple[HookRelease, str]:
        """The entry of `service`, or of `train`: exactly one of them."""
        model = payloads.parse(payloads.Generic, payload)
        if model.event not in self.config.generic_events:
            raise Rejected(400, f"event {model.event[:64]!r} not allowed")
        if (model.service is None) == (model.train is None):
            raise Rejected(400, "payload: expected exactly one of `service` and `train`")
        if model.train is not None:
            entry = self.config.train_entry(model.train)
            if entry is None:
                raise Rejected(404, f"train {model.train[:64]!r} is not registered")
        else:
            entry = self.config.entry(model.service)
            if entry is None:
                raise Rejected(404, f"service {model.service[:64]!r} is not registered")
        return entry, self.checked_tag(entry, model.tag)

    @staticmethod
    def checked_tag(entry: HookRelease, tag: str) -> str:
        if not TAG.fullmatch(tag) or not re.fullmatch(entry.tag_pattern, tag):
            raise Rejected(422, f"tag {tag[:128]!r} does not match {entry.tag_pattern}")
        return tag

    # ------------------------------------------------------------ workers
    def enqueue(self, job: Job) -> None:
        with self.queues_lock:
            for service in job.services:
                self.guards.setdefault(service, threading.Lock())
            jobs = self.queues.get(job.key)
            if jobs is None:
                jobs = self.queues[job.key] = queue.Queue()
                threading.Thread(target=self.work, args=(jobs,), name=f"release-{job.key}", daemon=True).start()
        jobs.put(job)

    def work(self, jobs: queue.Queue) -> None:
        while True:
            job = jobs.get()
            with self.queues_lock:
                guards = [self.guards[service] for service in job.services]
            for guard in guards:  # sorted by service: two jobs sharing services never wait on each other in a circle
                guard.acquire()
            try:
                self.run_job(job)
            finally:
                for guard in reversed(guards):
                    guard.release()
                jobs.task_done()

    def run_job(self, job: Job) -> None:
        self.store.update(job, state="running")
        try:
            code, report = self.runner(job)
        except Exception as exc:  # noqa: BLE001 - a broken run is reported, the worker lives on
            code, report = 1, {"error": f"{type(exc).__name__}: {exc}"}
        state = report.get("result") or RESULTS_BY_EXIT.get(code, "failed")
        members = member_states(report) if job.train else {}
        self.store.update(job, state=state, exit_code=code, report=report, members=members, finished_at=self.clock())
        log.info("release %s of %s: %s (exit %s)", job.id, job.label, state, code)
        if not self.config.callback_url:
            return
        if job.train:
            reason = str(report.get("reason") or "")
            outcome = {"release_id": job.id, "train": job.train, "images": job.images, "result": state, "exit_code": code,
                       "reason": reason, "rollback_reason": reason, "halted_by": halted_by(report), "members": members}
        else:
            outcome = {"release_id": job.id, "service": job.service, "image": job.image, "result": state,
                       "exit_code": code, "rollback_reason": report.get("rollback_reason", "")}
        self.callback(self.config.callback_url, self.secret, outcome)


# ---------------------------------------------------------------- the HTTP server
MAX_CONNECTIONS = 1000  # all clients together; poll(), not select(): no 1024-descriptor ceiling
MAX_HEADER_BYTES = 16 * 1024  # GitHub's headers are about 1 KiB


class _Channel(HTTPChannel):
    """A waitress connection that remembers since when it owes the server a whole request: from
    accept, then from the first byte after each response; None while a request is being served
    or the connection idles after one (waitress's own `channel_timeout` covers that)."""

    request_started: float | None = None

    def __init__(self, server, sock, addr, adj, map=None):
        super().__init__(server, sock, addr, adj, map)
        self.request_started = self.creation_time

    def received(self, data):
        if data and self.request_started is None:
            self.request_started = time.time()
        return super().received(data)

    def service(self):
        self.request_started = None  # a whole request reached the app (blank lines never do)
        return super().service()


class _Server(TcpWSGIServer):
    """waitress's TCP server with the two limits it has no knob for.

    waitress reads a whole request (headers, then the body up to `max_request_body_size`) before a
    worker thread sees it, so slow clients never hold one of the `threads`; what they hold is
    connections, and waitress's `connection_limit` is one number for all clients, with
    `channel_timeout` an *idle* timeout that every byte resets (a byte a second keeps a connection
    forever). Its own knobs still do their part: `connection_limit` (high, with `asyncore_use_poll`),
    `channel_timeout` for idle keep-alive connections, `cleanup_interval=1` so the checks below run
    every second, `max_request_header_size`. Added here: a deadline for a whole request
    (`maintenance`, run by waitress every `cleanup_interval`) and a cap on the connections one client
    address holds (`accept`: one more is answered 429 and closed at once, before any byte is read).
    """

    channel_class = _Channel

    def __init__(self, *args, request_timeout: float, per_client: int, **kw):
        self.request_timeout, self.per_client = request_timeout, per_client
        self.refused, self.refused_logged, self.expired = 0, 0.0, 0
        super().__init__(*args, **kw)

    def accept(self):
        pair = super().accept()
        if pair is None or not self.per_client:
            return pair
        conn, addr = pair
        host = addr[0] if isinstance(addr, tuple) else addr
        held = sum(1 for channel in list(self.active_channels.values()) if channel.addr and channel.addr[0] == host)
        if held < self.per_client:
            return pair
        try:
            conn.setblocking(False)
            conn.send(b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        conn.close()
        self.refused += 1
        now = time.monotonic()
        if now - self.refused_logged >= 10:  # one line per 10 s at most, however many are refused
            log.warning("refused %d connection(s): client %s already holds %d (max_connections_per_client)",
                        self.refused, host, held)
            self.refused, self.refused_logged = 0, now
        return None

    def maintenance(self, now):
        super().maintenance(now)  # idle connections: channel_timeout
        cutoff = now - self.request_timeout
        expired = 0
        for channel in list(self.active_channels.values()):
            started = channel.request_started
            if started is not None and started < cutoff and not channel.requests and not channel.will_close:
                channel.will_close = True  # the loop closes it on its next pass
                expired += 1
        if expired:
            log.info("closed %d connection(s) that had not sent a whole request within %gs", expired, self.request_timeout)


def make_server(app, config: HooksConfig, host: str | None = None, port: int | None = None, **overrides):
    """The waitress server of `serve`, not yet running (`.run()`); `overrides` are waitress settings
    (the tests pass port 0 and a shorter loop timeout)."""
    from waitress.adjustments import Adjustments
    from waitress.server import MultiSocketServer
    from waitress.task import ThreadedTaskDispatcher

    listen_host, listen_port = config.host_port()
    settings = dict(host=host or listen_host, port=listen_port if port is None else port, threads=8, ident="deployer",
                    max_request_body_size=config.max_body_bytes, max_request_header_size=MAX_HEADER_BYTES,
                    channel_timeout=config.idle_timeout, cleanup_interval=1, connection_limit=MAX_CONNECTIONS,
                    asyncore_use_poll=True)
    settings.update(overrides)
    adj = Adjustments(**settings)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict = {}
    servers = [_Server(app, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=info,
                       request_timeout=config.request_timeout, per_client=config.max_connections_per_client)
               for info in adj.listen]
    if len(servers) == 1:
        return servers[0]
    return MultiSocketServer(socket_map, adj, [(s.effective_host, s.effective_port) for s in servers], dispatcher,
                             servers[0].log_info)


def _connection_limit(wanted: int = MAX_CONNECTIONS) -> int:
    """Connections this process can hold: the soft descriptor limit is raised towards `wanted`
    (and some headroom for files and child processes) where the hard limit allows."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = wanted + 64
        if soft != resource.RLIM_INFINITY and soft < need:
            soft = need if hard == resource.RLIM_INFINITY else min(need, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        return wanted if soft == resource.RLIM_INFINITY else max(16, min(wanted, soft - 64))
    except (ImportError, ValueError, OSError):
        return wanted


def serve(config: HooksConfig, secret: bytes, runner=None) -> None:
    """Serve until interrupted (waitress, with the limits of `_Server`)."""
    state = Path(os.path.expanduser(config.state_dir)) / "releases.json"
    receiver = Receiver(config, secret, runner or cli_runner(config, config.secret_env), Store(state))
    server = make_server(receiver, config, connection_limit=_connection_limit())
    host, port = config.host_port()
    log.info("webhook receiver on http://%s:%s (POST /hooks/github, /hooks/generic); a whole request within %gs, "
             "%s connections per client, idle connections closed after %gs", host, port, config.request_timeout,
             config.max_connections_per_client or "any number of", config.idle_timeout)
    server.run()
