"""`deployer sandbox demo [CHAPTER]`: a story in the sandbox, through the same CLI a user types.

- `story` (the default, about 2 minutes): bootstrap -> provision web and api -> traffic -> release
  web v2 as a canary (promoted) -> web v3, which answers 20% 5xx (rolled back by its gate, numbers
  shown) -> blue/green release of api over Route53 weights -> history.
- `trains` (opt-in, about 3.5 minutes): the example's train `storefront` (api, then web and
  worker-web) released once good, then once with a bad web: the train halts and rolls back api
  and worker-web too.
- `native` (opt-in, about 2 minutes): `checkout`, whose deployments ECS runs itself (engine ecs,
  emulated stage by stage, one ECS minute lasting DEPLOYER_SANDBOX_MINUTE seconds): v2 continued
  at each judged stage, then v3 (20% 5xx) rolled back by the judge at the canary stage, with the
  numbers; `status` shows where ECS's deployment ended.
- `judge` (opt-in, about 2.5 minutes): releases that outlive their runner. `deployer judge install`
  deploys the judge function (its zip run as a local process at each call); `orders`, whose ECS
  canary the function judges at ECS's Lambda hooks, is released with --detach and followed by
  `deployer wait`, once good, once rolled back (by ECS's alarm or the function's gate, whichever
  sees the 20% 5xx first); then web's runner is killed (SIGKILL) while a canary answering 20% 5xx
  serves, and the function's guard, on its schedule, rolls it back.
"""

from __future__ import annotations

import contextlib
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
    group = outputs.get("BlueTargetGroupArn") or outputs["TargetGroupArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [t["TargetHealth"]["State"] for t in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]]
        if states and all(s == "healthy" for s in states):
            return
        time.sleep(0.5)
    raise click.ClickException(f"{service}'s first tasks did not turn healthy within {timeout:.0f}s")


@contextlib.contextmanager
def _traffic(sandbox: control.Sandbox, rates: dict[str, float]):
    """Traffic on each service while the chapter runs (bounded: 10 minutes at most); yields the
    results, filled in when it ends."""
    stop = threading.Event()
    results: dict[str, traffic.TrafficResult] = {}

    def drive(service: str, rps: float) -> None:
        box = control.find() or sandbox
        results[service] = traffic.run(box, service, rps, duration=600, stop=stop)

    threads = [threading.Thread(target=drive, args=item, daemon=True) for item in rates.items()]
    for t in threads:
        t.start()
    try:
        yield results
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)


def _set_up(sandbox: control.Sandbox, services: tuple[str, ...], first: tuple[tuple[str, ...], ...] = ()) -> control.Sandbox:
    for args in (("bootstrap",), *first, *(("provision", s) for s in services)):
        if _deployer(sandbox, *args) != 0:
            raise click.ClickException(f"deployer {' '.join(args)} failed")
    sandbox = control.find() or sandbox
    for service in services:
        _wait_healthy(sandbox, service)
    return sandbox


MEANING = {0: "released", 3: "rolled back"}


def _story(sandbox: control.Sandbox) -> tuple[dict[str, int], dict[str, int], dict]:
    sandbox = _set_up(sandbox, ("web", "api"))
    outcomes: dict[str, int] = {}
    with _traffic(sandbox, {"web": 60, "api": 20}) as results:
        outcomes["web v2 (canary)"] = _deployer(sandbox, "release", "web", "--image", "example/web:2", "--poll", "2s")
        outcomes["web v3 (canary, 20% 5xx)"] = _deployer(sandbox, "release", "web", "--image", "example/web:3", "--poll", "2s")
        outcomes["api v2 (bluegreen, Route53)"] = _deployer(sandbox, "release", "api", "--image", "example/api:2", "--poll", "2s")
    _deployer(sandbox, "history", "web")
    expected = {"web v2 (canary)": 0, "web v3 (canary, 20% 5xx)": 3, "api v2 (bluegreen, Route53)": 0}
    return outcomes, expected, results


def _trains(sandbox: control.Sandbox) -> tuple[dict[str, int], dict[str, int], dict]:
    sandbox = _set_up(sandbox, ("api", "web", "worker-web"))
    outcomes: dict[str, int] = {}
    good = ("--image", "api=example/api:2", "--image", "web=example/web:2", "--image", "worker-web=example/worker-web:2")
    bad = ("--image", "api=example/api:4", "--image", "web=example/web:3", "--image", "worker-web=example/worker-web:4")
    with _traffic(sandbox, {"web": 60, "api": 20, "worker-web": 20}) as results:
        _deployer(sandbox, "train", "release", "storefront", *good, "--dry-run")
        outcomes["storefront: api:2, web:2, worker-web:2"] = _deployer(sandbox, "train", "release", "storefront", *good, "--poll", "2s")
        outcomes["storefront: web:3 answers 20% 5xx"] = _deployer(sandbox, "train", "release", "storefront", *bad, "--poll", "2s")
    _deployer(sandbox, "train", "history", "storefront")
    expected = {"storefront: api:2, web:2, worker-web:2": 0, "storefront: web:3 answers 20% 5xx": 3}
    return outcomes, expected, results


def _native(sandbox: control.Sandbox) -> tuple[dict[str, int], dict[str, int], dict]:
    sandbox = _set_up(sandbox, ("checkout",))
    outcomes: dict[str, int] = {}
    with _traffic(sandbox, {"checkout": 60}) as results:
        _deployer(sandbox, "release", "checkout", "--image", "example/checkout:2", "--dry-run")
        outcomes["checkout v2 (ECS canary)"] = _deployer(sandbox, "release", "checkout", "--image", "example/checkout:2", "--poll", "2s")
        outcomes["checkout v3 (ECS canary, 20% 5xx)"] = _deployer(sandbox, "release", "checkout", "--image", "example/checkout:3",
                                                                "--poll", "2s")
    _deployer(sandbox, "status", "checkout")
    _deployer(sandbox, "history", "checkout")
    expected = {"checkout v2 (ECS canary)": 0, "checkout v3 (ECS canary, 20% 5xx)": 3}
    return outcomes, expected, results


def _listener_weights(sandbox: control.Sandbox, service: str) -> dict[str, int]:
    cfn, elbv2 = sandbox.client("cloudformation"), sandbox.client("elbv2")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=f"deployer-{service}")["Stacks"][0]["Outputs"]}
    listener = elbv2.describe_listeners(ListenerArns=[outputs["ListenerArn"]])["Listeners"][0]
    by_arn = {g["TargetGroupArn"]: g.get("Weight", 0) for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
    return {c: by_arn.get(outputs[f"{c.capitalize()}TargetGroupArn"], 0) for c in ("blue", "green")}


def _until(check, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def _orphan(sandbox: control.Sandbox, service: str, image: str) -> tuple[int, float | None]:
    """Release `image` to `service` and kill its runner (SIGKILL, as a lost CI agent) once the canary
    serves; the guard's rollback is followed with `deployer wait`. Returns wait's exit code and the
    seconds from the kill to all traffic back on the stable color."""
    before = _listener_weights(sandbox, service)
    stable = max(before, key=before.get)
    env = {**os.environ, **sandbox.env()}
    click.echo(click.style(f"\n$ deployer release {service} --image {image}    # killed (SIGKILL) once its canary serves",
                           fg="cyan", bold=True))
    runner = subprocess.Popen([sys.executable, "-m", "deployer", "release", service, "--image", image, "--poll", "2s"], env=env)
    try:
        serving = _until(lambda: _listener_weights(sandbox, service)[stable] < 100, timeout=120)
    finally:
        runner.kill()
        runner.wait(timeout=10)
    if not serving:
        return 1, None
    killed = time.monotonic()
    click.echo(click.style("runner killed; its lock's lease runs out, then the judge function's guard acts", fg="yellow"))
    recovered = _until(lambda: _listener_weights(sandbox, service)[stable] == 100, timeout=180)
    seconds = time.monotonic() - killed if recovered else None
    return _deployer(sandbox, "wait", service, "--timeout", "2m", "--poll", "2s"), seconds


def _judge(sandbox: control.Sandbox) -> tuple[dict[str, int], dict[str, int], dict]:
    sandbox = _set_up(sandbox, ("orders", "web"), first=(("judge", "install"),))
    outcomes: dict[str, int] = {}
    with _traffic(sandbox, {"orders": 60, "web": 60}) as results:
        for version, name in (("2", "orders v2 (ECS canary, judged by the function)"), ("3", "orders v3 (20% 5xx)")):
            _deployer(sandbox, "release", "orders", "--image", f"example/orders:{version}", "--detach")
            outcomes[name] = _deployer(sandbox, "wait", "orders", "--poll", "2s")
        outcomes["web v3 (canary, runner killed)"], seconds = _orphan(sandbox, "web", "example/web:3")
    _deployer(sandbox, "history", "web")
    if seconds is not None:
        click.echo(f"  traffic back on the stable color {seconds:.1f}s after the runner was killed "
                   f"(its lease: 20 s; the guard's schedule: every sandbox minute)")
    expected = {"orders v2 (ECS canary, judged by the function)": 0, "orders v3 (20% 5xx)": 3, "web v3 (canary, runner killed)": 3}
    return outcomes, expected, results


def run_demo(chapter: str = "story", keep: bool = False) -> int:
    started = time.monotonic()
    was_running = control.find() is not None
    sandbox = control.up()
    click.echo(f"sandbox at {sandbox.endpoint}; spec {sandbox.spec}")
    try:
        outcomes, expected, results = {"story": _story, "trains": _trains, "native": _native, "judge": _judge}[chapter](sandbox)
        click.echo(click.style("\nsummary", bold=True))
        for name, code in outcomes.items():
            click.echo(f"  {name:<40} {MEANING.get(code, f'exit {code}')}")
        for service, result in results.items():
            click.echo(f"  traffic {service:<32} {result.line()}")
        click.echo(f"  demo took {time.monotonic() - started:.0f}s")
        if chapter == "story":
            click.echo("  next: `deployer sandbox demo trains` releases api, web and worker-web as one train;")
            click.echo("        `deployer sandbox demo native` shows ECS's own canary judged stage by stage;")
            click.echo("        `deployer sandbox demo judge` shows releases that outlive their runner")
        return 0 if outcomes == expected else 1
    finally:
        if not keep and not was_running:
            control.down()
