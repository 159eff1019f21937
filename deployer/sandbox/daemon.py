"""The sandbox process: moto in server mode plus the data plane, until told to stop.

Started by `deployer sandbox up` (detached); stopped by SIGTERM from `deployer sandbox down`,
which stops every task process it started. It also stops by itself after `--lifetime`.
Besides moto and one proxy per listener it runs the front door (deployer.sandbox.front_door), an
HTTP forward proxy that reaches those listeners by ALB DNS name; its URL is `front_door` in
state.json and DEPLOYER_HTTP_PROXY in `deployer sandbox env`.

Lambda functions run as local processes (deployer.sandbox.lambda_runner; code unpacked under
`lambda/` in the sandbox's directory): for Invoke, for the AWS_LAMBDA lifecycle hooks of native
ECS deployments, and for the EventBridge Scheduler rate schedules that target them
(deployer.sandbox.schedule_runner). Each gets the sandbox's endpoint (AWS_ENDPOINT_URL), dummy
credentials and the region; not the front door: a function outside the VPC (as the judge is) does
not reach a test listener open to the VPC only, and the sandbox must not pretend it does. state.json's `lambda` holds the invocation counts, the cold-start (init) times and
the last invocations; each invocation's log and REPORT line are in sandbox.log.

Time scale: ECS's native blue/green, linear and canary deployments count in minutes (bake times,
lifecycle hook timeouts), too long for a sandbox. One ECS minute lasts DEPLOYER_SANDBOX_MINUTE
seconds here (default 5; tests set it lower, e.g. 0.5), read once at start. It scales every
minute-valued setting of a deployment, not CloudWatch alarm periods (real seconds) nor target
group deregistration delays (already seconds); schedules' rates and Lambda hooks' callBackDelay
(seconds) run on it too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

ACCOUNT = "123456789012"


def write_state(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deployer-sandbox")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--proxy-base", type=int, required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--app", type=Path, required=True)
    parser.add_argument("--images", type=Path)
    parser.add_argument("--lifetime", type=float, default=8 * 3600)
    args = parser.parse_args(argv)

    args.dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=args.dir / "sandbox.log", level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = logging.getLogger("deployer.sandbox")

    from moto.cloudwatch.models import cloudwatch_backends
    from moto.ecs.models import ecs_backends
    from moto.elbv2.models import elbv2_backends
    from moto.scheduler.models import scheduler_backends
    from moto.server import ThreadedMotoServer

    from deployer.aws.session import AwsSettings, ClientFactory
    from deployer.sandbox import moto_ext
    from deployer.sandbox.ecs_controller import EcsController
    from deployer.sandbox.emf import EmfShipper
    from deployer.sandbox.front_door import FrontDoor, route_key
    from deployer.sandbox.health import HealthChecker
    from deployer.sandbox.images import load_images
    from deployer.sandbox.lambda_runner import LambdaRunner
    from deployer.sandbox.metrics import MetricsFeeder
    from deployer.sandbox.moto_ext import awslambda
    from deployer.sandbox.native_deployments import time_scale
    from deployer.sandbox.proxy import ListenerProxy, Recorder
    from deployer.sandbox.schedule_runner import ScheduleRunner
    from deployer.sandbox.target_health import TargetHealth
    from deployer.sandbox.tasks import TaskRunner

    try:
        minute = time_scale(os.environ)
    except ValueError as exc:
        log.error("%s", exc)
        raise SystemExit(str(exc)) from None

    target_health = TargetHealth()  # the one shared view of target health in this process
    moto_ext.install(target_health)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{args.port}"
    ecs = ecs_backends[ACCOUNT][args.region]
    elbv2 = elbv2_backends[ACCOUNT][args.region]
    proxies: dict[str, ListenerProxy] = {}
    front_door = FrontDoor(lambda: {route_key(p.dns_name, p.listener_port): p.port for p in list(proxies.values())})
    front_door.start()
    lambdas = LambdaRunner(args.dir / "lambda", {
        "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_SESSION_TOKEN": "sandbox",
        "AWS_REGION": args.region, "AWS_DEFAULT_REGION": args.region, "AWS_ENDPOINT_URL": endpoint},
        resolve=lambda name: awslambda.resolve(name, ACCOUNT, args.region))
    awslambda.use(lambdas)
    schedules = ScheduleRunner(lambda: [s for g in list(scheduler_backends[ACCOUNT][args.region].schedule_groups.values())
                                        for s in list(g.schedules.values())], lambdas.submit, minute)
    controller = EcsController(ecs, elbv2, TaskRunner(args.app, args.dir / "tasks"), load_images(args.images), target_health,
                               minute=minute, cloudwatch_backend=cloudwatch_backends[ACCOUNT][args.region], lambdas=lambdas)
    health = HealthChecker(elbv2, target_health)
    recorder = Recorder()
    cloudwatch = ClientFactory(AwsSettings.emulated(endpoint, args.region, "sandbox")).client("cloudwatch")
    feeder = MetricsFeeder(recorder, cloudwatch, EmfShipper(args.dir / "tasks", cloudwatch))
    events_path = args.dir / "proxy-events.log"
    state_path = args.dir / "state.json"
    stop = threading.Event()
    deadline = time.time() + args.lifetime

    def proxy_event(text: str) -> None:
        with open(events_path, "a") as f:
            f.write(f"{time.time():.3f} {text}\n")

    def state() -> dict:
        return {
            "pid": os.getpid(), "endpoint": endpoint, "region": args.region, "ready": True, "front_door": front_door.url,
            "proxies": {arn: p.describe() for arn, p in proxies.items()},
            "tasks": {key: len([t for t in tasks if t.alive()]) for key, tasks in controller.tasks.items()},
            "lambda": lambdas.summary(),
        }

    def loop(name: str, period: float, body) -> threading.Thread:
        def run():
            while not stop.is_set():
                try:
                    body()
                except Exception:  # noqa: BLE001 - keep the sandbox alive, say what broke
                    log.exception("%s failed", name)
                stop.wait(period)
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    next_port = [args.proxy_base]

    def discover() -> None:
        changed = False
        for lb in list(elbv2.load_balancers.values()):
            for arn in list(lb.listeners):
                if arn not in proxies:
                    proxy = None
                    for _ in range(100):  # skip ports another program holds (bounded)
                        port, next_port[0] = next_port[0], next_port[0] + 1
                        try:
                            proxy = ListenerProxy(arn, lb, port, elbv2, recorder, proxy_event, target_health)
                            break
                        except OSError:
                            log.info("port %d is taken; trying the next one", port)
                    if proxy is None:
                        raise OSError(f"no free port for the proxy of {arn}")
                    proxy.start()
                    proxies[arn] = proxy
                    changed = True
        for arn in [a for a in proxies if not any(a in lb.listeners for lb in elbv2.load_balancers.values())]:
            proxies.pop(arn).stop()
            changed = True
        for proxy in list(proxies.values()):
            proxy.refresh()
        if changed:
            write_state(state_path, state())

    def handle(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    write_state(state_path, state())
    log.info("sandbox up on %s (one ECS minute lasts %gs)", endpoint, minute)
    threads = [
        loop("ecs", 0.25, lambda: controller.tick()),
        loop("health", 0.25, lambda: health.tick()),
        loop("proxies", 0.2, discover),
        loop("metrics", 1.0, lambda: feeder.flush()),
        loop("schedules", min(0.25, max(0.05, minute / 4)), lambda: schedules.tick()),
        loop("state", 2.0, lambda: write_state(state_path, state())),
    ]
    while not stop.is_set() and time.time() < deadline:
        stop.wait(0.5)
    stop.set()
    log.info("sandbox stopping")
    for t in threads:
        t.join(timeout=5)
    awslambda.use(None)
    lambdas.stop()
    front_door.stop()
    for proxy in proxies.values():
        proxy.stop()
    controller.stop_all()
    server.stop()
    state_path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
