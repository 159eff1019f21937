"""`deployer sandbox up|down|status|env|traffic|demo`."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def sandbox():
    """AWS emulated on loopback (moto) plus tasks as local processes and a weighted ALB proxy."""


@sandbox.command()
@click.option("--spec", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Spec whose network to create (default: the examples).")
@click.option("--images", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Image behaviours (default: examples/sandbox-images.yaml).")
@click.option("--port", default=4566, show_default=True, help="Port of the emulated AWS endpoint (another free one if taken).")
def up(spec, images, port):
    """Start the sandbox (or find the running one) and print the export lines."""
    from deployer.sandbox import control

    box = control.up(spec=spec or control.DEFAULT_SPEC, images=images or control.DEFAULT_IMAGES, port=port)
    click.echo(f"# sandbox at {box.endpoint}; run these, then any deployer command:", err=True)
    for line in box.export_lines():
        click.echo(line)


@sandbox.command()
def down():
    """Stop the sandbox and every task process it started."""
    from deployer.sandbox import control

    click.echo("sandbox stopped" if control.down() else "no sandbox was running")


@sandbox.command()
def env():
    """Print the export lines of the running sandbox."""
    from deployer.sandbox import control

    for line in control.require().export_lines():
        click.echo(line)


@sandbox.command()
def status():
    """Endpoint, listener proxies and running tasks."""
    from deployer.sandbox import control

    box = control.find()
    if box is None:
        click.echo("no sandbox is running")
        return
    click.echo(f"sandbox pid {box.state['pid']} at {box.endpoint} (state in {box.directory})")
    for arn, proxy in sorted(box.state.get("proxies", {}).items(), key=lambda kv: kv[1]["port"]):
        click.echo(f"  listener :{proxy['listener_port']} of {proxy['load_balancer_arn'].rsplit('/', 2)[-2]} -> http://127.0.0.1:{proxy['port']}")
    for key, count in sorted(box.state.get("tasks", {}).items()):
        click.echo(f"  service {key}: {count} task(s) running")


@sandbox.command()
@click.argument("service")
@click.option("--rps", default=20.0, show_default=True, help="Requests per second (at most 500).")
@click.option("--duration", default="30s", show_default=True, help="How long, e.g. 30s or 2m (at most 1h).")
def traffic(service, rps, duration):
    """Send bounded loopback traffic to SERVICE through its load balancer."""
    from deployer.errors import UsageError
    from deployer.sandbox import control
    from deployer.sandbox import traffic as generator
    from deployer.spec.units import parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise UsageError(f"--duration {duration}: {exc}") from None
    if not 0 < rps <= 500 or not 0 < seconds <= 3600:
        raise UsageError("--rps must be in 0..500 and --duration in 1s..1h")
    result = generator.run(control.require(), service, rps, seconds)
    click.echo(f"{service}: {result.line()}")


@sandbox.command()
@click.argument("chapter", required=False, default="story", type=click.Choice(["story", "trains", "native", "judge"]))
@click.option("--keep", is_flag=True, help="Leave the sandbox running afterwards.")
def demo(chapter, keep):
    """A story in the sandbox. `story` (the default): a good canary, a faulty one rolled back,
    blue/green over DNS. `trains`: a release train once good, once halted by a bad member.
    `native`: ECS's own canary (engine ecs) judged stage by stage, once good, once rolled back.
    `judge`: releases that outlive their runner: ECS's canary judged by the judge function with
    --detach, and a killed runner's canary rolled back by its guard."""
    from deployer.sandbox.demo import run_demo

    raise SystemExit(run_demo(chapter, keep=keep))
