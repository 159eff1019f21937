"""End-to-end tier: a real sandbox (moto server, task processes, proxies) on loopback.

One sandbox for the session; every release goes through the `deployer` command line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from deployer.sandbox import control, traffic
from tests.conftest import EXAMPLES

HERE = Path(__file__).resolve().parent

def proxy_base() -> int:
    """The first port of the sandbox's listener proxies: apart for each worker (scripts/dev.sh test runs
    pytest -n 2, and each worker that runs an e2e module starts its own sandbox)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return 20000 + 8000 * (index % 5) + os.getpid() % 4000


# One ECS minute (engine ecs: bake times, hook timeouts) lasts this many seconds in the tier's sandboxes.
SANDBOX_MINUTE = "2"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sandbox")
    from tests.functional.conftest import free_port

    os.environ["DEPLOYER_SANDBOX_MINUTE"] = SANDBOX_MINUTE  # read by the daemon control.up starts
    box = control.up(spec=HERE / "deployer.yaml", images=EXAMPLES / "sandbox-images.yaml", port=free_port(),
                     proxy_base=proxy_base(), directory=directory, lifetime=1800)
    try:
        run(box, "bootstrap")
        for service in ("web", "api", "roll-half", "roll-full"):
            code, _, err = run(box, "provision", service)
            assert code == 0, err
        yield box
    finally:
        control.down(directory)


def refreshed(box: control.Sandbox) -> control.Sandbox:
    return control.find(box.directory) or box


def run(box: control.Sandbox, *args: str, timeout: float = 180) -> tuple[int, dict | str, str]:
    """Run the command line; past `timeout` it gets SIGINT (as from Ctrl-C), so it restores traffic
    and frees the lock instead of leaving a half-done release to the next test."""
    env = {**os.environ, **box.env()}
    proc = subprocess.Popen([sys.executable, "-m", "deployer", "-o", "json", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        pytest.fail(f"deployer {' '.join(args)} still running after {timeout:.0f}s; interrupted:\n{stderr[-3000:]}")
    try:
        out = json.loads(stdout) if stdout.strip() else {}
    except ValueError:
        out = stdout
    return proc.returncode, out, stderr


def healthy_targets(box: control.Sandbox, service: str, color: str) -> int:
    outputs = stack_outputs(box, service)
    key = "TargetGroupArn" if color == "main" else f"{color.capitalize()}TargetGroupArn"
    health = box.client("elbv2").describe_target_health(TargetGroupArn=outputs[key])["TargetHealthDescriptions"]
    return sum(1 for t in health if t["TargetHealth"]["State"] == "healthy")


def stack_outputs(box: control.Sandbox, service: str) -> dict:
    stack = box.client("cloudformation").describe_stacks(StackName=f"deployer-{service}")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def wait_until(predicate, timeout: float = 60.0, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


class Traffic:
    """Background traffic to one service for the length of a test (bounded)."""

    def __init__(self, box: control.Sandbox, service: str, rps: float, limit: float = 240):
        self.stop = threading.Event()
        self.result: traffic.TrafficResult | None = None
        self.thread = threading.Thread(target=self._run, args=(box, service, rps, limit), daemon=True)

    def _run(self, box, service, rps, limit):
        self.result = traffic.run(refreshed(box), service, rps, limit, stop=self.stop)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)
