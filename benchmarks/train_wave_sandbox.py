"""A wave of 10 services released in parallel by one train, against the slowest member alone.

Ten identical services (2 tasks each, rolling 100/200: new tasks start, turn healthy, then the
old ones drain) in one sandbox (moto in server mode, tasks as local processes). First each member
is released alone, one after another; then the train `wave` releases all ten in one wave
(max_parallel 10). The figure is the train's wall time over the slowest lone release, from one
run: the issue asks for at most 1.5. A lone release varies by a few seconds with the phase of
the 5 s health checks, so the lone times are printed too (and the ratio to their median).
Every run is the `deployer` command line as a user types it (process start and planning
included on both sides).
Run: .venv/bin/python benchmarks/train_wave_sandbox.py [--members N]
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer.sandbox import control  # noqa: E402

SERVICE = """\
  w{i}:
    cluster: wave
    image: bench/w:0
    desired_count: 2
    deregistration_delay: 1s
    health_check: {{path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2, unhealthy_threshold: 2, grace_period: 5s}}
    network: {{vpc: vpc-0be0000000000000a, subnets: [subnet-0be0000000000000a, subnet-0be0000000000000b]}}
    load_balancer: {{listener: {{port: 80}}}}
    release:
      strategy: rolling
      rolling: {{preset: no-capacity-loss}}
      gates: {{period: 5s}}
"""
LIMIT = 1.5


def spec(members: int) -> str:
    names = [f"w{i}" for i in range(members)]
    return ("version: 1\nservices:\n" + "".join(SERVICE.format(i=i) for i in range(members))
            + f"trains:\n  wave:\n    waves: [[{', '.join(names)}]]\n    max_parallel: {members}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployer(env: dict, *args: str) -> tuple[int, float, str, str]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "deployer", "-o", "json", *args], env=env, capture_output=True, text=True, timeout=900)
    return proc.returncode, time.monotonic() - started, proc.stdout, proc.stderr[-2000:]


def alone(env: dict, service: str, image: str) -> float:
    code, seconds, _, err = deployer(env, "release", service, "--image", image, "--poll", "1s")
    if code != 0:
        raise SystemExit(f"release {service} alone failed (exit {code}):\n{err}")
    print(f"  {service} alone: {seconds:5.1f} s")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    members = parser.parse_args().members
    names = [f"w{i}" for i in range(members)]
    with tempfile.TemporaryDirectory(prefix="train-wave-") as tmp:
        directory = Path(tmp)
        (directory / "deployer.yaml").write_text(spec(members))
        (directory / "images.yaml").write_text(json.dumps({"images": {f"bench/w:{i}": {} for i in range(4)}}))
        box = control.up(spec=directory / "deployer.yaml", images=directory / "images.yaml", port=free_port(),
                         proxy_base=30000 + os.getpid() % 20000, directory=directory / "sandbox", lifetime=3600)
        try:
            env = {**os.environ, **box.env()}
            started = time.monotonic()
            for args in (("bootstrap",), *(("provision", n) for n in names)):
                code, _, _, err = deployer(env, *args)
                if code != 0:
                    raise SystemExit(f"{' '.join(args)} failed:\n{err}")
            print(f"{members} services provisioned in {time.monotonic() - started:.0f} s; each: 2 tasks, rolling 100/200")
            lone = {n: alone(env, n, "bench/w:1") for n in names}
            images = [a for n in names for a in ("--image", f"{n}=bench/w:2")]
            code, train_seconds, out, err = deployer(env, "train", "release", "wave", *images, "--poll", "1s")
            if code != 0:
                raise SystemExit(f"train release failed (exit {code}):\n{err}")
            spans = {n: m["report"]["duration_seconds"] for n, m in json.loads(out)["members"].items()}
            print(f"  train of {members} in one wave: {train_seconds:5.1f} s (members inside it: "
                  f"{min(spans.values()):.1f}..{max(spans.values()):.1f} s)")
        finally:
            control.down(directory / "sandbox")
    slowest = max(lone.values())
    median = statistics.median(lone.values())
    ratio = train_seconds / slowest
    verdict = "within" if ratio <= LIMIT else "OVER"
    print(f"members alone: {min(lone.values()):.1f}..{slowest:.1f} s, median {median:.1f} s")
    print(f"the wave took {ratio:.2f}x the slowest member alone ({train_seconds:.1f} s / {slowest:.1f} s; {verdict} {LIMIT}x); "
          f"{train_seconds / median:.2f}x the median")
    print(f"train_wave_members={members} train_wave_seconds={train_seconds:.1f} slowest_alone_seconds={slowest:.1f} ratio={ratio:.2f}")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
