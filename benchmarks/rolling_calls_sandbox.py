"""Requests of one rolling release, deployer against fabfuel's ecs-deploy, measured in one run.

Both tools release the same ECS service (2 tasks, 50/100) to a new image in the sandbox (moto in
server mode, tasks run as local processes), each polling every second, through a counting proxy
that sorts every request by service and operation from its SigV4 scope and target. deployer's
requests are shown as AWS work (ECS, ELBv2, CloudWatch...) apart from its journal (DynamoDB: lock,
heartbeats, release record), which ecs-deploy does not have. ecs-deploy runs from a venv of its own
(pinned below); when it cannot be installed, the run says so and compares with nothing.
Run: .venv/bin/python benchmarks/rolling_calls_sandbox.py
"""

from __future__ import annotations

import collections
import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer.sandbox import control  # noqa: E402

ECS_DEPLOY = "ecs-deploy==1.17.0"
ECS_DEPLOY_VENV = Path(os.environ.get("DEPLOYER_ECS_DEPLOY_VENV", ROOT / ".venv-bench-ecs-deploy"))

SPEC = """\
version: 1
services:
  worker:
    cluster: calls
    image: bench/worker:0
    desired_count: 2
    deregistration_delay: 1s
    health_check: {path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2, unhealthy_threshold: 2, grace_period: 5s}
    network: {vpc: vpc-0be0000000000000a, subnets: [subnet-0be0000000000000a, subnet-0be0000000000000b]}
    load_balancer: {listener: {port: 80}}
    release:
      strategy: rolling
      rolling: {preset: cheapest}
      gates: {period: 5s}
"""
IMAGES = {"images": {f"bench/worker:{i}": {} for i in range(4)}}
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_operation: collections.Counter = collections.Counter()

    def add(self, service: str, operation: str) -> None:
        with self.lock:
            self.by_operation[(service, operation)] += 1

    def take(self) -> collections.Counter:
        with self.lock:
            taken, self.by_operation = self.by_operation, collections.Counter()
        return taken


def operation_of(method: str, path: str, headers, body: bytes) -> tuple[str, str]:
    """(service, operation) of one AWS request, whichever protocol it speaks."""
    scope = SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else "?"
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocols: ECS, DynamoDB
        return service, target.rsplit(".", 1)[-1]
    if "/operation/" in path:  # RPC v2 CBOR (CloudWatch in recent botocore)
        return service, path.rsplit("/operation/", 1)[1].split("?")[0]
    action = parse_qs(body.decode("utf-8", "replace")).get("Action") or parse_qs(urlsplit(path).query).get("Action")
    if action:  # query protocols: ELBv2, CloudWatch, CloudFormation
        return service, action[0]
    return service, f"{method} {urlsplit(path).path.split('/')[2] if path.count('/') > 1 else path}"  # REST: Route53


def counting_proxy(upstream: str, counter: Counter) -> http.server.ThreadingHTTPServer:
    host, port = urlsplit(upstream).hostname, urlsplit(upstream).port

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            counter.add(*operation_of(self.command, self.path, self.headers, body))
            conn = http.client.HTTPConnection(host, port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                reply = conn.getresponse()
                data = reply.read()
            finally:
                conn.close()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ecs_deploy_executable() -> tuple[Path | None, str]:
    exe = ECS_DEPLOY_VENV / "bin" / "ecs"
    if exe.exists():
        return exe, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", str(ECS_DEPLOY_VENV)], check=True, capture_output=True, timeout=120)
        subprocess.run([str(ECS_DEPLOY_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        ECS_DEPLOY], check=True, capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"{ECS_DEPLOY} could not be installed in its own venv ({type(exc).__name__}); not compared"
    return (exe, "") if exe.exists() else (None, f"{ECS_DEPLOY} installed no `ecs` command; not compared")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_tool(command: list[str], env: dict) -> tuple[int, float, str]:
    started = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, time.monotonic() - started, proc.stderr[-1500:] + proc.stdout[-500:]


def summary(label: str, counts: collections.Counter, seconds: float, journal_services=("dynamodb",)) -> tuple[int, int]:
    work = sum(n for (service, _), n in counts.items() if service not in journal_services)
    journal = sum(n for (service, _), n in counts.items() if service in journal_services)
    detail = ", ".join(f"{op} {n}" for (service, op), n in sorted(counts.items()) if service not in journal_services)
    journal_detail = ", ".join(f"{op} {n}" for (service, op), n in sorted(counts.items()) if service in journal_services)
    print(f"  {label:<10} AWS work {work:>3}   journal {journal:>3}   {seconds:5.1f} s")
    print(f"             work: {detail}")
    if journal_detail:
        print(f"             journal: {journal_detail}")
    return work, journal


def sandbox_with(directory: Path, spec_text: str, images: dict) -> control.Sandbox:
    """A sandbox of its own in `directory` for this spec and these images."""
    spec, images_file = directory / "deployer.yaml", directory / "images.yaml"
    spec.write_text(spec_text)
    images_file.write_text(json.dumps(images))
    return control.up(spec=spec, images=images_file, port=free_port(), proxy_base=30000 + os.getpid() % 20000,
                      directory=directory / "sandbox", lifetime=1800)


def main() -> int:
    ecs_deploy, why_not = ecs_deploy_executable()
    with tempfile.TemporaryDirectory(prefix="rolling-calls-") as tmp:
        directory = Path(tmp)
        box = sandbox_with(directory, SPEC, IMAGES)
        counter = Counter()
        proxy = counting_proxy(box.endpoint, counter)
        try:
            env = {**os.environ, **box.env()}
            for args in (("bootstrap",), ("provision", "worker")):
                code, _, out = run_tool([sys.executable, "-m", "deployer", *args], env)
                if code != 0:
                    raise SystemExit(f"{' '.join(args)} failed:\n{out}")
            via_proxy = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.server_address[1]}"}
            counter.take()
            code, seconds, out = run_tool([sys.executable, "-m", "deployer", "release", "worker", "--image", "bench/worker:1",
                                           "--poll", "1s"], via_proxy)
            if code != 0:
                raise SystemExit(f"deployer release failed (exit {code}):\n{out}")
            ours = summary("deployer", counter.take(), seconds)
            theirs = None
            if ecs_deploy is not None:
                ecs_env = {**via_proxy, "AWS_DEFAULT_REGION": box.region}
                code, seconds, out = run_tool([str(ecs_deploy), "deploy", "calls", "worker", "-i", "worker", "bench/worker:2",
                                               "--timeout", "300", "--sleep-time", "1"], ecs_env)
                counts = counter.take()
                if code != 0:
                    print(f"  ecs-deploy ended with exit {code}; not compared:\n{out}")
                else:
                    theirs = summary("ecs-deploy", counts, seconds)
        finally:
            proxy.shutdown()
            control.down(directory / "sandbox")
    print("one rolling release of 2 tasks (50/100) in the sandbox, both tools polling every 1 s, requests counted at a proxy")
    if theirs is None:
        print(f"ecs-deploy: {why_not or 'not measured'}")
        print(f"rolling_aws_requests={ours[0]} journal_requests={ours[1]}")
        return 0
    verdict = "within" if ours[0] <= theirs[0] else "OVER"
    print(f"deployer's AWS work is {ours[0]} requests against ecs-deploy's {theirs[0]} ({verdict}); its journal adds {ours[1]}")
    print(f"rolling_aws_requests={ours[0]} journal_requests={ours[1]} ecs_deploy_requests={theirs[0]}")
    return 0 if ours[0] <= theirs[0] else 1


if __name__ == "__main__":
    sys.exit(main())
