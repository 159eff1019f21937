"""Release commands: release, resume, rollback, promote, abort, tidy, status, history."""

from __future__ import annotations

import click

from deployer.errors import DeployerError, ExitCode, UsageError
from deployer.cli.output import emit, report_and_exit


class StrategyChoice(click.Choice):
    """--strategy's choices come from the strategy registry, read when a command line is parsed or
    help is shown, so that `deployer --help` does not load the release engine."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self):
        from deployer.release.strategies import names

        return names()

    @choices.setter
    def choices(self, value) -> None:
        pass


def _checked(flag: str, value, check, model: type | None = None, data=None):
    """`check()` validates a flag with the spec's own types and rules (so flags and deployer.yaml
    cannot drift): a model's conversion of `data`, or a checked type's parse. A failure is one line
    naming the flag, its value (clipped) and what was expected."""
    import msgspec

    from deployer.spec.loader import explain
    from deployer.spec.units import clip

    try:
        return check()
    except (msgspec.ValidationError, ValueError) as exc:
        message = explain(exc, model, data) if isinstance(exc, msgspec.ValidationError) else str(exc)
        shown = value if isinstance(value, str) and value.isprintable() and " " not in value and 0 < len(value) <= 60 else clip(value)
        raise UsageError(f"{flag} {shown}: {message}") from None


def _parse_image(image: str) -> str:
    from deployer.spec.checked import Image

    return _checked("--image", image, lambda: Image.parse(image))


def _parse_steps(text: str | None):
    if text is None:
        return None
    from deployer.spec.models import Release, convert

    items = [t.strip() for t in text.split(",") if t.strip()]
    parsed = [int(t) if t.isascii() and t.isdigit() and len(t) <= 6 else t for t in items]
    data = {"steps": parsed}
    return _checked("--steps", text, lambda: convert(data, Release).steps, Release, data)


def with_gate_limits(spec, max_5xx_rate: float | None, max_p99_ms: int | None):
    """The service spec with this release's gate limits (flags override the spec, for this run only),
    checked by the spec's Gates model: its bounds, and no NaN or infinity."""
    limits = {k: v for k, v in (("max_5xx_rate", max_5xx_rate), ("max_p99_ms", max_p99_ms)) if v is not None}
    if not limits:
        return spec
    import math

    import msgspec

    from deployer.spec.checked import enc_hook
    from deployer.spec.models import Gates, convert

    values = msgspec.to_builtins(spec.release.gates, enc_hook=enc_hook)
    for name, value in limits.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{flag} {value}: expected a finite number (got {value})")
        values[name] = value
        gates = _checked(flag, value, lambda: convert(values, Gates), Gates, values)
    return spec.replace(release=spec.release.replace(gates=gates))


def _parse_seconds(flag: str, text: str | None):
    """--bake with the bounds of release.bake in deployer.yaml; --poll within 1s..5m."""
    if text is None:
        return None
    from deployer.spec.models import PollSeconds, Release, convert

    if flag == "--bake":
        return _checked(flag, text, lambda: convert({"bake": text}, Release).bake, Release, {"bake": text})
    return _checked(flag, text, lambda: PollSeconds.parse(text))


MAX_WAIT_FOR_LOCK = 15 * 60


def _parse_wait(text: str | None) -> float:
    """--wait-for-lock: bounded, so a CI job never hangs on a lock for longer than it asked."""
    if not text:
        return 0.0
    from deployer.spec.units import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--wait-for-lock {text}: {exc}") from None
    if not 0 <= seconds <= MAX_WAIT_FOR_LOCK:
        raise UsageError(f"--wait-for-lock {text}: expected 0s..15m")
    return float(seconds)


WAIT_FOR_LOCK_HELP = ("Wait up to this long (at most 15m) for another runner's lock, or a dead runner's lease, "
                      "to go; default: do not wait.")


def _can_ask(factory) -> bool:
    import sys

    return factory.output == "text" and not factory.github and sys.stdin.isatty() and sys.stderr.isatty()


def _release_over_orphan(factory, image: str, attempt):
    """`attempt(rollback_unfinished)`; if an orphaned release is in the way and a person is at the
    terminal, offer to roll it back first (CI gets the error, which names both ways out)."""
    from deployer.release.service import Unfinished

    try:
        return attempt(False)
    except Unfinished as orphan:
        if not _can_ask(factory):
            raise
        for i, line in enumerate(orphan.lines()):
            click.echo(("note: " if i == 0 else "") + line, err=True)
        if not click.confirm(f"roll release {orphan.record.id} back, then release {image}?", default=False, err=True):
            raise
        return attempt(True)


def _finish(factory, service_name: str, executor, call) -> None:
    """Run a release-like call; always print the report (json carries `result`), exit with its code."""
    import json

    from deployer.errors import Locked
    from deployer.release.report import report, summary_lines

    journal = executor.journal
    record, error = None, None
    try:
        record = call()
    except Locked as exc:
        data = {"result": "locked", "exit_code": ExitCode.LOCKED, "service": service_name, "message": exc.message}
        executor.progress.close()
        _publish_ci(factory, data)
        if factory.output == "json":
            click.echo(json.dumps(data, indent=2))
        raise
    except DeployerError as exc:
        error = exc
        record = executor.record  # what this run knows, even when the record could not be written
        if record is None:
            try:
                record = journal.latest(service_name)
            except DeployerError:
                record = None
        if record is None:
            raise
    data = report(record)
    if error is not None and error.exit_code != data["exit_code"]:
        # e.g. rolled back, but the record could not be written: the exit code says what to do
        data.update(exit_code=error.exit_code, error=error.message)
    executor.progress.close()
    _publish_ci(factory, data)
    report_and_exit(factory, data, summary_lines(data), error)


def _publish_ci(factory, data: dict) -> None:
    """In GitHub Actions: write the step outputs and the summary."""
    if factory.github:
        import os

        from deployer.reporting.github import publish

        publish(data, os.environ)


@click.command()
@click.argument("service")
@click.option("--image", required=True, help="The image to release, e.g. registry/web:2.")
@click.option("--strategy", type=StrategyChoice(), help="Default: the spec's.")
@click.option("--steps", help="Canary weights, e.g. 10,25,pause,100 (default: the spec's).")
@click.option("--pause-after", type=int, help="Pause after this weight until `deployer promote` (e.g. 10).")
@click.option("--bake", help="Time each step serves before its gate, e.g. 2m (default: the spec's).")
@click.option("--max-5xx-rate", type=click.FloatRange(0, 100), help="Gate: canary 5xx percent that fails (default: the spec's).")
@click.option("--max-p99-ms", type=click.IntRange(1), help="Gate: canary p99 ms that fails (default: the spec's).")
@click.option("--poll", default="5s", show_default=True, help="Time between progress polls, 1s..5m.")
@click.option("--dry-run", is_flag=True, help="Print the plan and its time estimate; change nothing.")
@click.option("--wait-for-lock", "wait_for_lock", metavar="DURATION", help=WAIT_FOR_LOCK_HELP)
@click.option("--rollback-unfinished", is_flag=True,
              help="If an earlier release was left unfinished (its runner died), roll it back first.")
@click.option("--detach", is_flag=True,
              help="release.ecs.judge: lambda: return once ECS has the deployment (exit 0); `deployer wait` follows it.")
@click.pass_obj
def release(factory, service, image, strategy, steps, pause_after, bake, max_5xx_rate, max_p99_ms, poll, dry_run,
            wait_for_lock, rollback_unfinished, detach):
    """Release IMAGE to SERVICE by a strategy (rolling, canary, bluegreen, linear), gated, rolled back on failure."""
    import os

    from deployer.cli.signals import stop_on_signals
    from deployer.release import service as releases
    from deployer.release import strategies
    from deployer.release.actor import actor_from_env

    image = _parse_image(image)
    spec = with_gate_limits(factory.service(service), max_5xx_rate, max_p99_ms)
    request = strategies.request_from_spec(spec, image, strategy, _parse_steps(steps), _parse_seconds("--bake", bake), pause_after)
    poll_seconds = _parse_seconds("--poll", poll) or 1
    wait = _parse_wait(wait_for_lock)
    if detach:
        _check_detachable(spec)
    with stop_on_signals() as stop:
        executor = factory.executor(spec, poll=poll_seconds, stop=stop, wait_for_lock=wait)
        if dry_run:
            preview = releases.preview(executor, request)
            _emit_plan(factory, preview)
            return
        actor = actor_from_env(os.environ)

        def attempt(undo: bool):
            return releases.release(executor, request, actor, rollback_unfinished=rollback_unfinished or undo)

        def run():
            from deployer.release.follow import wait as follow

            record = _release_over_orphan(factory, image, attempt)
            if detach or record.finished or record.judge != "lambda":
                return record
            executor.progress.line(f"ECS's deployment is judged by the judge function; following it "
                                   f"(Ctrl-C stops following, not the release: `deployer wait {service}`)")
            return follow(executor, actor, release_id=record.id, timeout=_follow_timeout(record))

        _finish(factory, service, executor, run)


def _check_detachable(spec) -> None:
    """--detach leaves the release to ECS and the judge function: only they can carry it on."""
    if not spec.release.native:
        raise UsageError(f"--detach: {spec.name}'s releases are run by deployer's own engine, which needs its runner "
                         f"(the judge function's guard only rolls back, or resumes, a release whose runner is gone)",
                         hint="set release.engine: ecs and release.ecs.judge: lambda to release without a runner")
    if spec.release.ecs_options.judge != "lambda":
        raise UsageError(f"--detach: {spec.name}'s judged stages are PAUSE hooks answered by the runner "
                         f"(release.ecs.judge: runner)",
                         hint="set release.ecs.judge: lambda (and run `deployer judge install`) to release without a runner")


def _follow_timeout(record) -> float:
    """As long as the release itself may take: the stored plan's follow timeout."""
    steps = (record.plan or {}).get("steps") or []
    return float(next((s.get("timeout") for s in steps if s.get("kind") == "FollowEcsDeployment"), 3600) or 3600)


@click.command("wait")
@click.argument("service")
@click.option("--release", "release_id", metavar="ID", help="The release to follow (default: SERVICE's latest).")
@click.option("--until", metavar="STAGE", help="Return (exit 0) once ECS's deployment is at this lifecycle stage or past it.")
@click.option("--timeout", default="1h", show_default=True, help="Stop waiting after this long (exit 5); the release goes on.")
@click.option("--poll", default="5s", show_default=True)
@click.pass_obj
def wait(factory, service, release_id, until, timeout, poll):
    """Follow SERVICE's release from anywhere until it ends, with the exit code of an attached release."""
    import os

    from deployer.cli.signals import stop_on_signals
    from deployer.release.actor import actor_from_env
    from deployer.release.follow import wait as follow
    from deployer.release.settle import STAGE_ORDER
    from deployer.spec.units import parse_duration

    if until is not None and until not in STAGE_ORDER:
        raise UsageError(f"--until {until[:40]}: expected one of ECS's lifecycle stages ({', '.join(STAGE_ORDER)})")
    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise UsageError(f"--timeout {timeout[:40]}: {exc}") from None
    spec = factory.service(service)
    with stop_on_signals() as stop:
        executor = factory.executor(spec, poll=_parse_seconds("--poll", poll) or 1, stop=stop)
        _finish(factory, service, executor,
                lambda: follow(executor, actor_from_env(os.environ), release_id=release_id, until=until, timeout=float(seconds)))


@click.command()
@click.argument("service")
@click.option("--rollback", "roll_back", is_flag=True, help="Roll the unfinished release back instead.")
@click.option("--poll", default="5s", show_default=True)
@click.option("--wait-for-lock", "wait_for_lock", metavar="DURATION", help=WAIT_FOR_LOCK_HELP)
@click.pass_obj
def resume(factory, service, roll_back, poll, wait_for_lock):
    """Continue (or roll back) SERVICE's interrupted release."""
    import os

    from deployer.cli.signals import stop_on_signals
    from deployer.release import service as releases
    from deployer.release.actor import actor_from_env

    spec = factory.service(service)
    with stop_on_signals() as stop:
        executor = factory.executor(spec, poll=_parse_seconds("--poll", poll) or 1, stop=stop, wait_for_lock=_parse_wait(wait_for_lock))
        _finish(factory, service, executor, lambda: releases.resume(executor, actor_from_env(os.environ), roll_back=roll_back))


@click.command()
@click.argument("service")
@click.option("--poll", default="5s", show_default=True)
@click.option("--wait-for-lock", "wait_for_lock", metavar="DURATION", help=WAIT_FOR_LOCK_HELP)
@click.pass_obj
def rollback(factory, service, poll, wait_for_lock):
    """Back to the previous version: one traffic switch while it is warm, else a redeploy."""
    import os

    from deployer.cli.signals import stop_on_signals
    from deployer.release import service as releases
    from deployer.release.actor import actor_from_env

    spec = factory.service(service)
    with stop_on_signals() as stop:
        executor = factory.executor(spec, poll=_parse_seconds("--poll", poll) or 1, stop=stop, wait_for_lock=_parse_wait(wait_for_lock))
        _finish(factory, service, executor, lambda: releases.rollback(executor, actor_from_env(os.environ)))


@click.command()
@click.argument("service")
@click.pass_obj
def promote(factory, service):
    """Let SERVICE's paused release go on."""
    _send(factory, service, "promote")


@click.command()
@click.argument("service")
@click.pass_obj
def abort(factory, service):
    """Roll SERVICE's running release back at its next poll."""
    _send(factory, service, "abort")


def _send(factory, service: str, command_name: str) -> None:
    """A command for the runner of SERVICE's release, through its record (read at the runner's next poll)."""
    from deployer.release import service as releases

    factory.service(service)
    record = releases.send(factory.journal(), service, command_name)
    emit(factory, {"result": "sent", "command": command_name, "release_id": record.id},
          f"{command_name} sent to release {record.id} of {service}")


@click.command()
@click.argument("service")
@click.pass_obj
def tidy(factory, service):
    """Scale down the previous color once its keep_previous time has passed."""
    import os

    from deployer.release import service as releases
    from deployer.release.actor import actor_from_env

    spec = factory.service(service)
    scaled = releases.tidy(factory.executor(spec), actor_from_env(os.environ))
    emit(factory, {"result": "tidied" if scaled else "noop", "scaled_down": scaled},
          f"{service}: scaled down {', '.join(scaled)}" if scaled else f"{service}: nothing to scale down")


@click.command()
@click.argument("service")
@click.pass_obj
def status(factory, service):
    """Colors, weights, healthy targets, the latest release and the lock."""
    from deployer.release import service as releases

    data = releases.status(factory.executor(factory.service(service)))
    lines = [f"{service}:"]
    for color, c in data["colors"].items():
        weight = "" if c["weight"] is None else f" weight {c['weight']}"
        lines.append(f"  {color}: {c['task_definition'].rsplit('/', 1)[-1]} x{c['desired']} healthy {c['healthy']}{weight}")
    native = data.get("ecs_deployment")
    if native:
        groups = ", ".join(f"{g} {w}%" for g, w in native["target_groups"].items())
        waiting = f", waiting at a PAUSE hook ({native['awaiting_hook']})" if native["awaiting_hook"] else ""
        lines.append(f"  ECS deployment {native['arn'].rsplit('/', 1)[-1]}: {native['status']} at {native['stage'] or '-'}"
                     f"{waiting}" + (f"; production {groups}" if groups else ""))
    elif "ecs_deployment" in data:
        lines.append("  ECS deployment: none running")
    if data["latest"]:
        latest = data["latest"]
        judged = f" (judged by {latest['judge']})" if latest["judge"] != "runner" else ""
        lines.append(f"  latest: {latest['release_id']} {latest['strategy']} {latest['state']}{judged} {latest['reason']}".rstrip())
    if data["lock"]:
        lines.append(f"  locked by {data['lock']['holder']} (release {data['lock']['release_id']})")
    emit(factory, data, "\n".join(lines))


@click.command()
@click.argument("service")
@click.option("-n", "--limit", default=10, show_default=True)
@click.pass_obj
def history(factory, service, limit):
    """SERVICE's releases, newest first."""
    factory.service(service)
    records = factory.journal().history(service, limit)
    rows = [r.summary() for r in records]
    text = "\n".join(f"{r['release_id']}  {r['strategy']:<9} {r['state']:<12} {r['judge']:<6} {r['image']}  {r['reason']}".rstrip()
                     for r in rows)
    emit(factory, {"service": service, "releases": rows}, text or f"{service}: no releases yet")


def _emit_plan(factory, preview) -> None:
    data = {"result": "noop", "dry_run": True, "plan": preview.plan.to_dict(), "estimate_seconds": preview.estimate.seconds,
            "warnings": list(preview.estimate.warnings)}
    text = "\n".join([f"plan for {preview.plan.service} ({preview.plan.strategy}, {preview.plan.live} -> {preview.plan.target}):",
                      *preview.plan.lines(), *preview.estimate.lines()])
    emit(factory, data, text)
