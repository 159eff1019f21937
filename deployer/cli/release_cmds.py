"""Release commands: release, resume, rollback, promote, abort, tidy, status, history."""

from __future__ import annotations

import click

from deployer.errors import DeployerError, ExitCode, UsageError


def _parse_steps(text: str | None):
    if text is None:
        return None
    from pydantic import ValidationError

    from deployer.spec.models import Release

    items = [t.strip() for t in text.split(",") if t.strip()]
    parsed = [int(t) if t.isdigit() else t for t in items]
    try:
        return Release(steps=parsed).steps
    except ValidationError as exc:
        raise UsageError(f"--steps {text}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def with_pause_after(steps: list, weight: int) -> list:
    """Insert `pause` after the step with this weight (once)."""
    if weight not in steps:
        raise UsageError(f"--pause-after {weight}: no step with that weight (steps: {', '.join(map(str, steps))})")
    if weight == 100:
        raise UsageError("--pause-after 100: the release is complete at 100%; pause after an earlier weight")
    at = steps.index(weight) + 1
    return steps if steps[at:at + 1] == ["pause"] else steps[:at] + ["pause"] + steps[at:]


def with_gate_limits(spec, max_5xx_rate: float | None, max_p99_ms: int | None):
    """The service spec with this release's gate limits (flags override the spec, for this run only)."""
    limits = {k: v for k, v in (("max_5xx_rate", max_5xx_rate), ("max_p99_ms", max_p99_ms)) if v is not None}
    if not limits:
        return spec
    gates = spec.release.gates.model_copy(update=limits)
    return spec.model_copy(update={"release": spec.release.model_copy(update={"gates": gates})})


def _parse_seconds(flag: str, text: str | None):
    if text is None:
        return None
    from deployer.spec.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text}: {exc}") from None


def _finish(factory, service_name: str, executor, call) -> None:
    """Run a release-like call; always print the report (json carries `result`), exit with its code."""
    import json
    import sys

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
        record = journal.latest(service_name)
        if record is None:
            raise
    data = report(record)
    executor.progress.close()
    _publish_ci(factory, data)
    if factory.output == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        for line in summary_lines(data):
            click.echo(line)
    if error is not None:
        for i, line in enumerate(error.lines()):
            click.echo(("error: " if i == 0 else "") + line, err=True)
        sys.exit(error.exit_code)


def _publish_ci(factory, data: dict) -> None:
    """In GitHub Actions: write the step outputs and the summary."""
    if factory.github:
        import os

        from deployer.reporting.github import publish

        publish(data, os.environ)


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("service")
    @click.option("--image", required=True, help="The image to release, e.g. registry/web:2.")
    @click.option("--strategy", type=click.Choice(["rolling", "canary", "bluegreen"]), help="Default: the spec's.")
    @click.option("--steps", help="Canary weights, e.g. 10,25,pause,100 (default: the spec's).")
    @click.option("--pause-after", type=int, help="Pause after this weight until `deployer promote` (e.g. 10).")
    @click.option("--bake", help="Time each step serves before its gate, e.g. 2m (default: the spec's).")
    @click.option("--max-5xx-rate", type=click.FloatRange(0, 100), help="Gate: canary 5xx percent that fails (default: the spec's).")
    @click.option("--max-p99-ms", type=click.IntRange(1), help="Gate: canary p99 ms that fails (default: the spec's).")
    @click.option("--poll", default="5s", show_default=True, help="Time between progress polls.")
    @click.option("--dry-run", is_flag=True, help="Print the plan and its time estimate; change nothing.")
    @click.pass_obj
    def release(factory, service, image, strategy, steps, pause_after, bake, max_5xx_rate, max_p99_ms, poll, dry_run):
        """Release IMAGE to SERVICE: rolling, canary or blue/green, gated, rolled back on failure."""
        import os

        from deployer.cli.signals import stop_on_signals
        from deployer.release import service as releases
        from deployer.release.actor import actor_from_env
        from deployer.release.plan import request_from_spec

        spec = with_gate_limits(factory.service(service), max_5xx_rate, max_p99_ms)
        chosen = _parse_steps(steps)
        if pause_after is not None:
            chosen = with_pause_after(list(chosen if chosen is not None else spec.release.steps), pause_after)
        request = request_from_spec(spec, image, strategy, chosen, _parse_seconds("--bake", bake))
        poll_seconds = _parse_seconds("--poll", poll) or 1
        with stop_on_signals() as stop:
            executor = factory.executor(spec, poll=poll_seconds, stop=stop)
            if dry_run:
                preview = releases.preview(executor, request)
                _emit_plan(factory, preview)
                return
            _finish(factory, service, executor, lambda: releases.release(executor, request, actor_from_env(os.environ)))

    @cli.command()
    @click.argument("service")
    @click.option("--rollback", "roll_back", is_flag=True, help="Roll the unfinished release back instead.")
    @click.option("--poll", default="5s", show_default=True)
    @click.pass_obj
    def resume(factory, service, roll_back, poll):
        """Continue (or roll back) SERVICE's interrupted release."""
        import os

        from deployer.cli.signals import stop_on_signals
        from deployer.release import service as releases
        from deployer.release.actor import actor_from_env

        spec = factory.service(service)
        with stop_on_signals() as stop:
            executor = factory.executor(spec, poll=_parse_seconds("--poll", poll) or 1, stop=stop)
            _finish(factory, service, executor, lambda: releases.resume(executor, actor_from_env(os.environ), roll_back=roll_back))

    @cli.command()
    @click.argument("service")
    @click.option("--poll", default="5s", show_default=True)
    @click.pass_obj
    def rollback(factory, service, poll):
        """Back to the previous version: one traffic switch while it is warm, else a redeploy."""
        import os

        from deployer.cli.signals import stop_on_signals
        from deployer.release import service as releases
        from deployer.release.actor import actor_from_env

        spec = factory.service(service)
        with stop_on_signals() as stop:
            executor = factory.executor(spec, poll=_parse_seconds("--poll", poll) or 1, stop=stop)
            _finish(factory, service, executor, lambda: releases.rollback(executor, actor_from_env(os.environ)))

    for name, verb in (("promote", "Let SERVICE's paused release go on."), ("abort", "Roll SERVICE's running release back at its next poll.")):
        def make(command_name):
            @click.pass_obj
            def command(factory, service):
                from deployer.release import service as releases

                factory.service(service)
                record = releases.send(factory.journal(), service, command_name)
                _emit(factory, {"result": "sent", "command": command_name, "release_id": record.id},
                      f"{command_name} sent to release {record.id} of {service}")
            return command

        cli.command(name=name, help=verb)(click.argument("service")(make(name)))

    @cli.command()
    @click.argument("service")
    @click.pass_obj
    def tidy(factory, service):
        """Scale down the previous color once its keep_previous time has passed."""
        import os

        from deployer.release import service as releases
        from deployer.release.actor import actor_from_env

        spec = factory.service(service)
        scaled = releases.tidy(factory.executor(spec), actor_from_env(os.environ))
        _emit(factory, {"result": "tidied" if scaled else "noop", "scaled_down": scaled},
              f"{service}: scaled down {', '.join(scaled)}" if scaled else f"{service}: nothing to scale down")

    @cli.command()
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
        if data["latest"]:
            latest = data["latest"]
            lines.append(f"  latest: {latest['release_id']} {latest['strategy']} {latest['state']} {latest['reason']}".rstrip())
        if data["lock"]:
            lines.append(f"  locked by {data['lock']['holder']} (release {data['lock']['release_id']})")
        _emit(factory, data, "\n".join(lines))

    @cli.command()
    @click.argument("service")
    @click.option("-n", "--limit", default=10, show_default=True)
    @click.pass_obj
    def history(factory, service, limit):
        """SERVICE's releases, newest first."""
        factory.service(service)
        records = factory.journal().history(service, limit)
        rows = [r.summary() for r in records]
        text = "\n".join(f"{r['release_id']}  {r['strategy']:<9} {r['state']:<12} {r['image']}  {r['reason']}".rstrip() for r in rows)
        _emit(factory, {"service": service, "releases": rows}, text or f"{service}: no releases yet")


def _emit(factory, data: dict, text: str) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str) if factory.output == "json" else text)


def _emit_plan(factory, preview) -> None:
    data = {"result": "noop", "dry_run": True, "plan": preview.plan.to_dict(), "estimate_seconds": preview.estimate.seconds,
            "warnings": list(preview.estimate.warnings)}
    text = "\n".join([f"plan for {preview.plan.service} ({preview.plan.strategy}, {preview.plan.live} -> {preview.plan.target}):",
                      *preview.plan.lines(), *preview.estimate.lines()])
    _emit(factory, data, text)
