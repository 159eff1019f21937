"""Requests and stage timings of one canary under each engine, measured in one run.

The same service shape (2 tasks, a test listener, canary 20% then 100%, the same gates) is released
to a good image twice in the sandbox, both runners polling every second behind a counting proxy:
once by deployer's own engine (two ECS services, the listener's weights) and once by ECS's own
canary (`release.engine: ecs`: one service, ECS moving the listener rule, deployer answering its
PAUSE hooks). Prints the requests per release by operation (AWS work apart from the journal), the
ratio between the engines, and when each ECS stage began, from the release's own record.
One ECS minute lasts DEPLOYER_SANDBOX_MINUTE seconds (2 here).
Run: .venv/bin/python benchmarks/native_calls_sandbox.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from deployer.sandbox import control, traffic  # noqa: E402
from rolling_calls_sandbox import Counter, counting_proxy, run_tool, sandbox_with, summary  # noqa: E402

MINUTE = "2"
COMMON = """\
    cluster: calls
    desired_count: 2
    deregistration_delay: 1s
    health_check: {path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2, unhealthy_threshold: 2, grace_period: 5s}
    network: {vpc: vpc-0be0000000000000a, subnets: [subnet-0be0000000000000a, subnet-0be0000000000000b]}
    load_balancer: {listener: {port: 80}, test_listener: {port: 8080}}
"""
GATES = "{period: 2s, min_requests: 40, max_5xx_rate: 5, max_p99_ms: 2000, margin: 3, p99_min_delta_ms: 500, max_inconclusive: 10}"
SPEC = f"""\
version: 1
services:
  own:
    image: bench/web:0
{COMMON}    release: {{strategy: canary, steps: [20, 100], bake: 4s, keep_previous: 0s, gates: {GATES}}}
  ecs:
    image: bench/web:0
{COMMON}    release:
      engine: ecs
      strategy: canary
      bake: 1m
      ecs: {{canary_percent: 20, canary_bake: 2m, hook_timeout: 30m}}
      gates: {GATES}
"""
IMAGES = {"images": {f"bench/web:{i}": {} for i in range(3)}}


def release(box, proxy_env: dict, service: str, counter: Counter):
    """One release under 60 rps of traffic: (exit code, seconds, requests by operation, the report)."""
    import threading

    stop = threading.Event()
    sender = threading.Thread(target=traffic.run, args=(box, service, 60.0, 240), kwargs={"stop": stop}, daemon=True)
    sender.start()
    counter.take()
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "deployer", "-o", "json", "release", service, "--image", "bench/web:1",
                               "--poll", "1s"], env=proxy_env, capture_output=True, text=True, timeout=600)
        code, seconds, out = proc.returncode, time.monotonic() - started, proc.stdout or proc.stderr[-2000:]
    finally:
        stop.set()
        sender.join(timeout=30)
    counts = counter.take()
    return code, seconds, counts, out


def main() -> int:
    os.environ["DEPLOYER_SANDBOX_MINUTE"] = MINUTE
    with tempfile.TemporaryDirectory(prefix="native-calls-") as tmp:
        directory = Path(tmp)
        box = sandbox_with(directory, SPEC, IMAGES)
        counter = Counter()
        proxy = counting_proxy(box.endpoint, counter)
        results = {}
        try:
            env = {**os.environ, **box.env()}
            for args in (("bootstrap",), ("provision", "own"), ("provision", "ecs")):
                code, _, out = run_tool([sys.executable, "-m", "deployer", *args], env)
                if code != 0:
                    raise SystemExit(f"{' '.join(args)} failed:\n{out}")
            via_proxy = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.server_address[1]}"}
            time.sleep(2)  # the sandbox finds the new listeners and starts their proxies
            box = control.find(directory / "sandbox") or box  # its state now names those proxies
            for service in ("own", "ecs"):
                code, seconds, counts, out = release(box, via_proxy, service, counter)
                if code != 0:
                    raise SystemExit(f"release {service} failed (exit {code}):\n{out}")
                results[service] = (summary(f"engine {'deployer' if service == 'own' else 'ecs'}", counts, seconds), out)
        finally:
            proxy.shutdown()
            control.down(directory / "sandbox")
    print("one canary (20% then 100%) of 2 tasks per engine in the sandbox, polling every 1 s under 60 rps, requests counted at a proxy")
    (own_work, own_journal), _ = results["own"]
    (ecs_work, ecs_journal), out = results["ecs"]
    report = json.loads(out)
    started = report["events"][0]["at"]
    stages = [(e["at"] - started, e["text"].split()[2]) for e in report.get("events", []) if e["text"].startswith("ECS stage ")]
    print("ECS stages of the engine-ecs release (seconds from its start; one ECS minute = " + MINUTE + " s):")
    for at, stage in stages:
        print(f"  {at:6.1f}  {stage}")
    print(f"engine ecs / engine deployer AWS requests: {ecs_work / own_work:.2f}")
    print(f"native_aws_requests={ecs_work} native_journal_requests={ecs_journal} own_aws_requests={own_work} own_journal_requests={own_journal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
