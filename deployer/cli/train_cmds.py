"""`deployer train release|resume|rollback|status|history NAME`: several services released as one train."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli.output import emit, report_and_exit
from deployer.errors import DeployerError, Locked, UsageError


@click.group()
def train():
    """Release trains: the services of `trains:` in deployer.yaml, in waves, with one decision."""


def _train_spec(factory, name: str):
    config = factory.config()
    if name not in config.trains:
        known = ", ".join(config.trains) or "none"
        raise UsageError(f"no train {name} in {factory.config_path} (trains: {known})", hint="trains are declared under `trains:`")
    return config, config.trains[name]


def _member_report(factory, journal, record) -> dict:
    """The train's record, with each member's own report (verdicts, numbers) as `release` gives it."""
    from deployer.release.report import report

    data = {"result": record.state, **record.summary(), "members": {}}
    for name, member in record.members.items():
        entry = {"wave": member.wave + 1, "state": member.state, "image": member.image, "release_id": member.release_id}
        if member.reason:
            entry["reason"] = member.reason
        if member.release_id:
            try:
                found = journal.load(name, member.release_id)
            except DeployerError:
                found = None
            if found is not None:
                entry["report"] = report(found)
        data["members"][name] = entry
    return data


def _lines(data: dict) -> list[str]:
    out = [f"train {data['train']} {data['id']}: {data['result']}" + (f" ({data['reason']})" if data.get("reason") else "")]
    for name, member in data["members"].items():
        line = f"  wave {member['wave']}  {name:<14} {member['state']:<12} {member['image']}"
        out.append((line + (f"  {member['reason']}" if member.get("reason") else "")).rstrip())
    return out


class _Members:
    """What every train command needs: each member's target (made once) and planner."""

    def __init__(self, factory, config):
        from deployer.reporting.text import ReleaseTextProgress

        self.factory, self.config = factory, config
        self.targets: dict = {}
        self.shared = ReleaseTextProgress()

    def target(self, member: str):
        if member not in self.targets:
            self.targets[member] = self.factory.target(self.config.services[member])
        return self.targets[member]

    def plan(self, member: str, image: str):
        from deployer.release.preflight import estimate
        from deployer.release.strategies import plan_release, request_from_spec

        service = self.config.services[member]
        plan = plan_release(service, self.target(member).observe(), request_from_spec(service, image))
        return plan, estimate(service, plan).seconds


def _run(factory, members: _Members, name: str, poll: str, call) -> None:
    """Run `call(runner)` (release, resume or rollback) under the signal handler; report the train's
    run it touched, with each member's own report, and exit with its code."""
    import threading
    import time

    from deployer.cli.release_cmds import _parse_seconds
    from deployer.cli.signals import stop_on_signals
    from deployer.reporting.text import MemberProgress
    from deployer.train import runner as trains

    poll_seconds = _parse_seconds("--poll", poll) or 1
    journal = factory.journal()
    lock = threading.Lock()
    with stop_on_signals() as stop:
        def make_executor(member: str, stop_requested):
            return factory.executor(members.config.services[member], poll=poll_seconds, stop=stop, journal=journal,
                                    target=members.target(member), progress=MemberProgress(members.shared, member, lock),
                                    stop_requested=stop_requested)

        runner = trains.TrainRunner(journal, make_executor, members.shared, time.time, stop.wait, stop.is_set)
        error = None
        try:
            call(runner)
        except DeployerError as exc:
            error = exc
        if isinstance(error, Locked) and not runner.began:  # another release or train holds a member
            data = {"result": "locked", "exit_code": error.exit_code, "train": name, "message": error.message}
            _publish_ci(factory, data)
            report_and_exit(factory, data, [f"train {name}: locked"], error)
        if error is not None and not runner.began:
            raise error  # refused before it began (nothing to do, bad input): nothing of this run to report
        data = _member_report(factory, journal, trains.latest_run(journal, name))
        data["exit_code"] = error.exit_code if error is not None else 0
        _publish_ci(factory, data)
        report_and_exit(factory, data, _lines(data), error)


def _publish_ci(factory, data: dict) -> None:
    """In GitHub Actions: the train's outputs and a step summary with a table per member."""
    if factory.github:
        import os

        from deployer.reporting.github import publish_train

        publish_train(data, os.environ)


def images_file_values(path) -> tuple[str, ...]:
    """`--images-file`: a YAML (or JSON) mapping of member to image, as SERVICE=IMAGE values for
    parse_images; a clear usage error naming the file when it is not that. (Read here, in the
    command: deployer.train.plan stays pure.)"""
    from deployer.spec.safe_yaml import load_yaml, read_text

    try:
        data, _ = load_yaml(read_text(path), str(path))  # malformed YAML: a ConfigError naming the file and line
    except FileNotFoundError:
        raise UsageError(f"--images-file {path}: file not found") from None
    if not isinstance(data, dict) or not data:
        raise UsageError(f"--images-file {path}: expected a mapping of member to image, e.g. `web: registry/web:2`")
    bad = next((k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, str)), None)
    if bad is not None:
        raise UsageError(f"--images-file {path}: {bad}: expected `SERVICE: IMAGE` with both as text")
    return tuple(f"{service}={image}" for service, image in data.items())


@train.command("release")
@click.argument("name")
@click.option("--image", "images", multiple=True, metavar="SERVICE=IMAGE",
              help="The image of one member, e.g. web=registry/web:2; once per member.")
@click.option("--images-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A YAML or JSON mapping of member to image (`web: registry/web:2`), instead of --image or with it.")
@click.option("--poll", default="5s", show_default=True, help="Time between progress polls, 1s..5m.")
@click.option("--dry-run", is_flag=True, help="Print the train's plan and its time estimate; change nothing.")
@click.pass_obj
def release(factory, name, images, images_file, poll, dry_run):
    """Release every member of train NAME: wave by wave, each member by its own strategy and gates;
    the first failure halts the train and applies its on_failure."""
    import os

    from deployer.release.actor import actor_from_env
    from deployer.train import runner as trains
    from deployer.train.plan import parse_images

    config, spec = _train_spec(factory, name)
    chosen = parse_images((images_file_values(images_file) if images_file else ()) + tuple(images), spec.members, name)
    members = _Members(factory, config)
    if dry_run:
        plan = trains.plan_train(name, spec, chosen, members.plan)
        emit(factory, {"result": "noop", "dry_run": True, "plan": plan.to_dict(), "estimate_seconds": plan.seconds}, "\n".join(plan.lines()))
        return
    _run(factory, members, name, poll, lambda runner: trains.release(runner, name, spec, chosen, actor_from_env(os.environ), members.plan))


@train.command("resume")
@click.argument("name")
@click.option("--poll", default="5s", show_default=True, help="Time between progress polls, 1s..5m.")
@click.pass_obj
def resume(factory, name, poll):
    """Go on with train NAME's unfinished run (interrupted, or its runner gone) from its record:
    members left mid-release continue on their stored plans, pending ones start."""
    import os

    from deployer.release.actor import actor_from_env
    from deployer.train import runner as trains

    config, _ = _train_spec(factory, name)
    members = _Members(factory, config)
    _run(factory, members, name, poll, lambda runner: trains.resume(runner, name, actor_from_env(os.environ), members.plan))


@train.command("rollback")
@click.argument("name")
@click.option("--poll", default="5s", show_default=True, help="Time between progress polls, 1s..5m.")
@click.pass_obj
def rollback(factory, name, poll):
    """Roll back train NAME's latest run: every member it released or left mid-release, newest wave
    first (one traffic call each while the previous color is warm)."""
    import os

    from deployer.release.actor import actor_from_env
    from deployer.train import runner as trains

    config, _ = _train_spec(factory, name)
    members = _Members(factory, config)
    _run(factory, members, name, poll, lambda runner: trains.roll_back(runner, name, actor_from_env(os.environ)))


@train.command("status")
@click.argument("name")
@click.pass_obj
def status(factory, name):
    """The latest run of train NAME: its state, each member's state and release."""
    from deployer.train.runner import latest_run

    _train_spec(factory, name)
    journal = factory.journal()
    latest = latest_run(journal, name)
    if latest is None:
        emit(factory, {"train": name, "latest": None}, f"train {name}: no runs yet")
        return
    data = _member_report(factory, journal, latest)
    emit(factory, data, "\n".join(_lines(data)))


@train.command("history")
@click.argument("name")
@click.option("-n", "--limit", default=10, show_default=True)
@click.pass_obj
def history(factory, name, limit):
    """Train NAME's runs, newest first."""
    from deployer.train.record import TrainRecord

    _train_spec(factory, name)
    runs = [TrainRecord.from_json(doc).summary() for doc in factory.journal().train_history(name, limit)]
    text = "\n".join(f"{r['id']}  {r['state']:<12} wave {r['wave']}  {r['reason']}".rstrip() for r in runs)
    emit(factory, {"train": name, "runs": runs}, text or f"train {name}: no runs yet")
