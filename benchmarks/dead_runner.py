"""How long a runner that dies mid-canary leaves traffic split, and what users see meanwhile.

In the sandbox, under traffic: a canary of an image that answers 20% 5xx is released; when its
first traffic shift shows on the listener, the runner gets SIGKILL (no clean-up of its own), and
a cleanup job starts at once, as the Jenkinsfile's post step does:
`deployer resume web --rollback --wait-for-lock 60s`. Then, in the same run, the judge function is
installed and nobody cleans up: its guard, on the schedule (one sandbox minute), rolls back
(`release.on_orphan: rollback`). Measured for both: the time from the kill to the listener back at
100% on the stable color, and the errors users got in between; the guard's figure is printed next
to the issue's goal (one schedule period plus one gate window) and the runner's lease.
Run: .venv/bin/python benchmarks/dead_runner.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer.sandbox import control, traffic  # noqa: E402
from deployer.synth import names  # noqa: E402

RPS = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployer(box: control.Sandbox, *args: str, wait: bool = True):
    env = {**os.environ, **box.env()}
    command = [sys.executable, "-m", "deployer", "-o", "json", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def listener_weights(box: control.Sandbox, listener_arn: str, groups: dict[str, str]) -> dict[str, int]:
    actions = box.client("elbv2").describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"]
    forward = next(a for a in actions if a["Type"] == "forward")
    by_arn = {tg["TargetGroupArn"]: tg.get("Weight", 1) for tg in forward.get("ForwardConfig", {}).get("TargetGroups", [])}
    return {color: by_arn.get(arn, 0) for color, arn in groups.items()}


def one_run(box: control.Sandbox, outputs: dict[str, str], image: str, by_hand: bool = True) -> tuple[float, int, int]:
    listener = outputs[names.OUTPUT_LISTENER]
    groups = {c: outputs[names.output_target_group(c)] for c in ("blue", "green")}
    before = listener_weights(box, listener, groups)
    stable = max(before, key=before.get)
    stop = threading.Event()
    seen: list[traffic.TrafficResult] = []
    sender = threading.Thread(target=lambda: seen.append(traffic.run(control.find(box.directory) or box, "web", RPS, 300, stop=stop)),
                              daemon=True)
    sender.start()
    runner = deployer(box, "release", "web", "--image", image, "--poll", "1s", wait=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and listener_weights(box, listener, groups)[stable] == 100:
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    killed = time.monotonic()
    if by_hand:
        cleanup = deployer(box, "resume", "web", "--rollback", "--wait-for-lock", "60s", wait=False)
    while time.monotonic() < killed + 120 and listener_weights(box, listener, groups)[stable] != 100:
        time.sleep(0.05)
    split = time.monotonic() - killed
    if not by_hand:  # the guard did it: `wait` reads how the release ended
        cleanup = deployer(box, "wait", "web", "--timeout", "60s", "--poll", "1s", wait=False)
    cleanup.wait(timeout=120)
    stop.set()
    sender.join(timeout=30)
    result = seen[0] if seen else traffic.TrafficResult()
    errors = sum(n for status, n in result.statuses.items() if status >= 500)
    print(f"    traffic: {result.line()}; statuses {dict(sorted(result.statuses.items()))}", flush=True)
    return split, errors, cleanup.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from deployer.release.executor import LEASE_SECONDS

    with tempfile.TemporaryDirectory(prefix="dead-runner-") as tmp:
        directory = Path(tmp)
        box = control.up(spec=ROOT / "examples" / "deployer.yaml", images=ROOT / "examples" / "sandbox-images.yaml",
                         port=free_port(), proxy_base=30000 + os.getpid() % 20000, directory=directory / "sandbox", lifetime=1800)
        try:
            for command in (("bootstrap",), ("provision", "web")):
                done = deployer(box, *command)
                if done.returncode != 0:
                    raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
            stack = box.client("cloudformation").describe_stacks(StackName=names.stack_name("web"))["Stacks"][0]
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
            live_group = outputs[names.output_target_group("blue")]
            deadline = time.monotonic() + 90  # the provisioned tasks pass their health checks before the first run
            while time.monotonic() < deadline:
                health = box.client("elbv2").describe_target_health(TargetGroupArn=live_group)["TargetHealthDescriptions"]
                if sum(t["TargetHealth"]["State"] == "healthy" for t in health) >= 2:
                    break
                time.sleep(0.5)
            traffic.run(control.find(box.directory) or box, "web", RPS, 5)  # the listener's proxy is up and serving
            splits, errors = [], []
            print(f"dead runner: SIGKILL at the first canary shift of a 20%-5xx image, {RPS} rps, lease {LEASE_SECONDS:.0f} s")
            for i in range(args.runs):
                split, errs, code = one_run(box, outputs, "example/web:3")
                splits.append(split)
                errors.append(errs)
                print(f"  run {i + 1}: traffic split for {split:.1f} s after the kill, {errs} 5xx answers in the whole release, "
                      f"cleanup exit {code}", flush=True)
            print(f"split after a dead runner: median {statistics.median(splits):.1f} s, max {max(splits):.1f} s "
                  f"(before: 56 s measured with a 60 s lease); 5xx answers median {statistics.median(errors):.0f}")
            done = deployer(box, "judge", "install")
            if done.returncode != 0:
                raise SystemExit(f"judge install failed:\n{done.stderr[-2000:]}")
            minute = float(os.environ.get("DEPLOYER_SANDBOX_MINUTE", "5"))
            service = control.find(box.directory) or box
            from deployer.spec import load_config

            period = load_config(service.spec).services["web"].release.gates.period
            guarded = []
            print(f"the same with nobody cleaning up: the judge function's guard (schedule every {minute:g} s, one sandbox minute)")
            for i in range(args.runs):
                split, errs, code = one_run(box, outputs, "example/web:3", by_hand=False)
                guarded.append(split)
                print(f"  run {i + 1}: traffic split for {split:.1f} s after the kill, {errs} 5xx answers in the whole release, "
                      f"wait exit {code}", flush=True)
            goal = minute + period
            print(f"split, the guard alone: median {statistics.median(guarded):.1f} s, max {max(guarded):.1f} s; by hand at once: "
                  f"median {statistics.median(splits):.1f} s ({statistics.median(guarded) / statistics.median(splits):.2f}x); "
                  f"the issue's goal, one schedule period + one gate window: {goal:g} s here, plus the runner's lease "
                  f"{LEASE_SECONDS:.0f} s before anyone may take over: {goal + LEASE_SECONDS:g} s")
        finally:
            control.down(directory / "sandbox")
    return 0


if __name__ == "__main__":
    sys.exit(main())
