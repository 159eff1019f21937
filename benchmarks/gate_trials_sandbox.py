"""The gate trials, for real: canary releases in the sandbox with real processes and real traffic.

Same shape as the simulated trials in gate_trials.py: the baseline serves 1% 5xx, the canary
gets 10% of the traffic, each gate window holds about 100 canary requests (200 rps, 5 s periods),
up to 12 windows per step, the gate reading at every poll. Kinds: an identical canary, one at 5%
5xx, one whose latency is +50% (100 ms -> 150 ms), errors in bursts (every request fails 1 s in
each 5 s), a slow minority (3% of requests +1.5 s), 5% of connections dropped mid-request. For
each release it reads the JSON report: the verdict at the 10% step and the canary requests it took. Run: .venv/bin/python benchmarks/gate_trials_sandbox.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
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

RPS = 200
KINDS = {  # kind -> (image env, the outcome that would be wrong)
    "identical": ({"ERROR_RATE": "0.01", "EXTRA_LATENCY_MS": "100"}, "rolled_back"),
    "5xx at 5%": ({"ERROR_RATE": "0.05", "EXTRA_LATENCY_MS": "100"}, "released"),
    "latency +50%": ({"ERROR_RATE": "0.01", "EXTRA_LATENCY_MS": "150"}, "released"),
    "bursts 1s/5s": ({"ERROR_RATE": "0.01", "EXTRA_LATENCY_MS": "100", "ERROR_BURST": "1/5"}, "released"),
    "slow minority": ({"ERROR_RATE": "0.01", "EXTRA_LATENCY_MS": "100", "SLOW_FRACTION": "0.03", "SLOW_MS": "1500"}, "released"),
    "5% dropped": ({"ERROR_RATE": "0.01", "EXTRA_LATENCY_MS": "100", "RESET_RATE": "0.05"}, "released"),
}
BASELINE = {"ERROR_RATE": "0.01", "EXTRA_LATENCY_MS": "100"}

SPEC = """\
version: 1
services:
  web:
    cluster: trials
    image: bench/web:base-0
    cpu: 256
    memory: 512
    container_port: 8080
    desired_count: 2
    deregistration_delay: 1s
    health_check: {path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2, unhealthy_threshold: 2, grace_period: 5s}
    network: {vpc: vpc-0be0000000000000a, subnets: [subnet-0be0000000000000a, subnet-0be0000000000000b]}
    load_balancer: {listener: {port: 80}}
    release:
      strategy: canary
      steps: [10, 100]
      bake: 5s
      keep_previous: 0s
      gates: {period: 5s, min_requests: 100, max_5xx_rate: 5, max_p99_ms: 1000, margin: 0.25,
              p99_min_delta_ms: 20, confidence: 0.99, max_inconclusive: 11}
"""


def images_file(directory: Path, runs: int) -> Path:
    images = {f"bench/web:base-{i}": BASELINE for i in range(runs * len(KINDS) + 1)}
    for k, (env, _) in enumerate(KINDS.values()):
        for i in range(runs):
            images[f"bench/web:k{k}-{i}"] = env
    path = directory / "images.yaml"
    path.write_text(json.dumps({"images": images}))  # JSON is YAML
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployer(box: control.Sandbox, spec: Path, *args: str) -> tuple[int, dict, str]:
    env = {**os.environ, **box.env()}  # DEPLOYER_CONFIG: the sandbox's copy of the spec, with its VPC and subnet IDs
    proc = subprocess.run([sys.executable, "-m", "deployer", "-o", "json", *args], env=env,
                          capture_output=True, text=True, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout or "{}"), proc.stderr
    except ValueError:
        return proc.returncode, {}, proc.stderr + proc.stdout


def release_under_traffic(box: control.Sandbox, spec: Path, image: str) -> dict:
    stop = threading.Event()
    sender = threading.Thread(target=traffic.run, args=(control.find(box.directory) or box, "web", RPS, 600),
                              kwargs={"stop": stop}, daemon=True)
    sender.start()
    try:
        code, report, err = deployer(box, spec, "release", "web", "--image", image, "--poll", "1s")
    finally:
        stop.set()
        sender.join(timeout=30)
    if code not in (0, 3):
        raise SystemExit(f"release of {image} ended with exit {code}:\n{err[-2000:]}")
    return report


def first_step_decision(report: dict) -> tuple[str, int]:
    """The verdict at the 10% step and the canary requests behind it."""
    at_ten = [v for v in report.get("verdicts", []) if v["weight"] == 10 and v["outcome"] != "INCONCLUSIVE"]
    if at_ten:
        return at_ten[-1]["outcome"], at_ten[-1]["canary"]["requests"]
    return ("FAIL" if report["result"] == "rolled_back" else "PASS"), 0


def run_sandbox_trials(runs: int, only: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory(prefix="gate-trials-") as tmp:
        directory = Path(tmp)
        spec = directory / "deployer.yaml"
        spec.write_text(SPEC)
        box = control.up(spec=spec, images=images_file(directory, runs), port=free_port(),
                         proxy_base=30000 + os.getpid() % 20000, directory=directory / "sandbox", lifetime=3600)
        try:
            for args in (("bootstrap",), ("provision", "web")):
                code, _, err = deployer(box, spec, *args)
                if code != 0:
                    raise SystemExit(f"{' '.join(args)} failed:\n{err[-2000:]}")
            # warm up: the proxy for the new listener is up and serving before the first trial
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (control.find(box.directory) or box).state.get("proxies"):
                time.sleep(0.5)
            traffic.run(control.find(box.directory) or box, "web", RPS, 5)
            base = 1
            print(f"sandbox gate trials: {runs} releases of each kind at {RPS} rps, 10% canary, 5 s windows")
            for k, (name, (_, wrong)) in enumerate(KINDS.items()):
                if only and name not in only:
                    continue
                results, needed, seconds = [], [], []
                for i in range(runs):
                    started = time.monotonic()
                    report = release_under_traffic(box, spec, f"bench/web:k{k}-{i}")
                    seconds.append(time.monotonic() - started)
                    outcome, n = first_step_decision(report)
                    results.append(report["result"])
                    needed.append(n)
                    print(f"    {name:<14} run {i + 1}: {report['result']:<11} at 10%: {outcome} after {n} canary "
                          f"requests ({report.get('rollback_reason', '')[:70]})", flush=True)
                    if report["result"] == "released" and k > 0:  # a missed bad canary: put the baseline back
                        release_under_traffic(box, spec, f"bench/web:base-{base}")
                        base += 1
                wrong_n = sum(r == wrong for r in results)
                label = "false-rollback" if wrong == "rolled_back" else "missed-rollback"
                print(f"  {name:<14} {label} {wrong_n}/{runs}   canary requests to decide: median "
                      f"{statistics.median(needed):.0f}; release took median {statistics.median(seconds):.0f} s")
        finally:
            control.down(directory / "sandbox")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kind", action="append", default=[], choices=list(KINDS), help="only these kinds (repeatable)")
    args = parser.parse_args()
    run_sandbox_trials(args.runs, tuple(args.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
