"""Handlers for the steps people steer: pause (until promote or abort) and promote."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.release import record as states
from deployer.release.failures import StepFailed, Why
from deployer.release.steps import Pause, Promote

if TYPE_CHECKING:
    from deployer.release.executor import Executor


def pause(ex: Executor, step: Pause, index, rollback=False) -> None:
    ex.record.state = states.PAUSED
    ex.save()
    ex.progress.line(f"    paused at {step.weight}%: `deployer promote {ex.service.name}` goes on, `deployer abort {ex.service.name}` rolls back")
    while True:
        command = ex.journal.command(ex.record.service, ex.record.id)
        if command == "promote":
            ex.journal.send_command(ex.record.service, ex.record.id, "")
            ex.record.state = states.RUNNING
            ex.note(index, "promoted by command")
            return
        if command == "abort":
            ex.journal.send_command(ex.record.service, ex.record.id, "")
            raise StepFailed(Why.ABORTED, "abort requested")
        ex.wait(ex.settings.poll)


def promote(ex: Executor, step: Promote, index, rollback=False) -> None:
    ex.record.live = step.live
    ex.note(index, f"{step.live} is live")
