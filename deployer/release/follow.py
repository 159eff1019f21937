"""`deployer wait`: follow a release from anywhere, reading only (its record, ECS's deployment).

The release goes on without this process: the judge function decides at ECS's hooks, or a runner
somewhere runs it. What the record gains (events, verdicts) is shown as it comes; when ECS's
deployment has ended and nobody has written that down yet, this writes it (deployer.release.settle),
so the exit code is the one an attached release would have had.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.errors import InconsistentState, Interrupted, RolledBack, TimedOut, UsageError
from deployer.release import record as states
from deployer.release.settle import reached, settle

if TYPE_CHECKING:
    from deployer.release.executor import Executor
    from deployer.release.record import ReleaseRecord


def wait(ex: Executor, actor: str, *, release_id: str | None = None, until: str | None = None,
         timeout: float = 3600.0) -> ReleaseRecord:
    """The record once the release has finished, or once ECS's deployment is at `until` (or past it)."""
    journal, name = ex.journal, ex.service.name
    record = journal.load(name, release_id) if release_id else journal.latest(name)
    if record is None:
        raise UsageError(f"{name}: no release {release_id}" if release_id else f"{name}: no release yet")
    shown = Shown()
    deadline = ex.clock() + timeout
    while True:
        ex.record = record  # what a report is made of, if this ends in an error (timeout, Ctrl-C)
        shown.new(ex, record)
        if record.finished:
            return ended(ex, record)
        if record.ecs_deployment:
            deployment = ex.target.deployment(record.ecs_deployment)
            shown.stage(ex, deployment.stage or deployment.status)
            if deployment.finished:  # its outcome first: --until never hides a rollback
                settled = settle(ex, record, actor)
                if settled is not None and settled.finished:
                    record = settled
                    continue
            elif until and deployment.status == "IN_PROGRESS" and reached(deployment.stage, until):
                ex.progress.line(f"ECS's deployment is at {deployment.stage}; the release goes on")
                return record
        if ex.clock() >= deadline:
            raise TimedOut(f"{name}: release {record.id} was still {record.state} after {timeout:.0f}s of waiting; it goes on",
                           hint=f"`deployer wait {name} --release {record.id}` follows it again")
        ex.sleep(ex.settings.poll)
        if ex.stop_requested():
            raise Interrupted(f"{name}: stopped waiting; release {record.id} goes on without this process",
                              hint=f"`deployer wait {name} --release {record.id}` follows it again")
        record = journal.load(name, record.id) or record


def ended(ex: Executor, record: ReleaseRecord) -> ReleaseRecord:
    """A finished release, as an attached run ends it: rolled back and failed are errors (exit 3, 4)."""
    ex.record = record  # what the report is made of, whatever is raised
    if record.state == states.ROLLED_BACK:
        raise RolledBack(f"{record.service}: release {record.id} rolled back: {record.reason}")
    if record.state == states.FAILED:
        raise InconsistentState(f"{record.service}: release {record.id} failed: {record.reason}",
                                hint=f"check `deployer status {record.service}`; traffic may need a manual fix")
    return record


class Shown:
    """What of the record has been shown already: only what is new is printed."""

    def __init__(self) -> None:
        self.events = 0
        self.verdicts = 0
        self.last_stage = ""

    def new(self, ex: Executor, record: ReleaseRecord) -> None:
        for event in record.events[self.events:]:
            ex.progress.line(f"    {event['text']}")
        for verdict in record.verdicts[self.verdicts:]:
            ex.progress.verdict(f"{verdict['weight']}%", verdict)
        self.events, self.verdicts = len(record.events), len(record.verdicts)

    def stage(self, ex: Executor, stage: str) -> None:
        if stage != self.last_stage:
            self.last_stage = stage
            ex.progress.line(f"    ECS: {stage}")
