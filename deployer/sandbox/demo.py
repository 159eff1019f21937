"""`deployer sandbox demo`: the whole story in the sandbox, through the same CLI a user types.

bootstrap -> provision web and api -> traffic on web -> release web v2 as a canary (promoted)
-> release web v3, which answers 20% 5xx (rolled back by its gate, numbers shown) -> blue/green
release of api over Route53 weights -> history.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import click

from deployer.sandbox import control, traffic


def _deployer(sandbox: control.Sandbox, *args: str) -> int:
    env = {**os.environ, **sandbox.env()}
    click.echo(click.style(f"\n$ deployer {' '.join(args)}", fg="cyan", bold=True))
    return subprocess.run([sys.executable, "-m", "deployer", *args], env=env).returncode


def _wait_healthy(sandbox: control.Sandbox, service: str, timeout: float = 60.0) -> None:
    elbv2 = sandbox.client("elbv2")
    cfn = sandbox.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=f"deployer-{service}")["Stacks"][0]["Outputs"]}
    group = outputs["BlueTargetGroupArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [t["TargetHealth"]["State"] for t in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]]
        if states and all(s == "healthy" for s in states):
            return
        time.sleep(0.5)
    raise click.ClickException(f"{service}'s first tasks did not turn healthy within {timeout:.0f}s")


def run_demo(keep: bool = False) -> int:
    started = time.monotonic()
    was_running = control.find() is not None
    sandbox = control.up()
    click.echo(f"sandbox at {sandbox.endpoint}; spec {sandbox.spec}")
    outcomes: dict[str, int] = {}
    try:
        for args in (("bootstrap",), ("provision", "web"), ("provision", "api")):
            if _deployer(sandbox, *args) != 0:
                return 1
        sandbox = control.find() or sandbox
        _wait_healthy(sandbox, "web")
        _wait_healthy(sandbox, "api")

        stop = threading.Event()
        results: dict[str, traffic.TrafficResult] = {}

        def drive(service: str, rps: float) -> None:
            box = control.find() or sandbox
            results[service] = traffic.run(box, service, rps, duration=600, stop=stop)

        threads = [threading.Thread(target=drive, args=(s, r), daemon=True) for s, r in (("web", 60), ("api", 20))]
        for t in threads:
            t.start()
        outcomes["web v2 (canary)"] = _deployer(sandbox, "release", "web", "--image", "example/web:2", "--poll", "2s")
        outcomes["web v3 (canary, 20% 5xx)"] = _deployer(sandbox, "release", "web", "--image", "example/web:3", "--poll", "2s")
        outcomes["api v2 (bluegreen, Route53)"] = _deployer(sandbox, "release", "api", "--image", "example/api:2", "--poll", "2s")
        stop.set()
        for t in threads:
            t.join(timeout=15)
        _deployer(sandbox, "history", "web")
        click.echo(click.style("\nsummary", bold=True))
        expected = {"web v2 (canary)": 0, "web v3 (canary, 20% 5xx)": 3, "api v2 (bluegreen, Route53)": 0}
        for name, code in outcomes.items():
            meaning = {0: "released", 3: "rolled back by its gate"}.get(code, f"exit {code}")
            click.echo(f"  {name:<30} {meaning}")
        for service, result in results.items():
            click.echo(f"  traffic {service:<22} {result.line()}")
        click.echo(f"  demo took {time.monotonic() - started:.0f}s")
        return 0 if outcomes == expected else 1
    finally:
        if not keep and not was_running:
            control.down()
