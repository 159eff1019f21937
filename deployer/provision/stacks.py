"""Create or update one stack through a change set: show the diff, execute, follow the events.

A failed create or update is explained by the stack events that failed, not by a status alone.
`dry_run` creates the change set, shows it and deletes it: nothing in the stack changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from deployer.aws.cloudformation import NO_CHANGES_REASONS, CloudFormation, StackEvent, iter_parameters
from deployer.errors import AwsError, DeployerError, ProvisionFailed
from deployer.provision.diff import ChangeRow, change_rows, parameter_lines, template_diff

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


class Progress(Protocol):
    def line(self, text: str) -> None: ...

    def event(self, event: StackEvent) -> None: ...


@dataclass
class StackResult:
    stack: str
    action: str  # created | updated | noop | dry-run
    changes: list[ChangeRow] = field(default_factory=list)
    parameter_changes: list[str] = field(default_factory=list)
    template_changes: list[str] = field(default_factory=list)
    status: str = ""

    def to_dict(self) -> dict:
        return {
            "stack": self.stack,
            "action": self.action,
            "status": self.status,
            "changes": [r.__dict__ for r in self.changes],
            "parameter_changes": self.parameter_changes,
        }


def change_set_name(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return "deployer-" + now.strftime("%Y%m%d-%H%M%S-%f")


def apply_stack(
    cfn: CloudFormation,
    *,
    stack: str,
    template: dict,
    parameters: dict[str, str],
    progress: Progress,
    dry_run: bool = False,
    timeout: float = 3600,
) -> StackResult:
    existing = cfn.stack(stack)
    status = existing["StackStatus"] if existing else None
    if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployerError(f"stack {stack} is busy ({status})", hint="wait for it to finish, then run provision again")
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        raise DeployerError(
            f"stack {stack} is {status} after a failed create and cannot be updated",
            hint=f"delete it (aws cloudformation delete-stack --stack-name {stack}) and provision again",
        )
    create = existing is None or status == "REVIEW_IN_PROGRESS"
    old_template = {} if create else cfn.template(stack)
    old_parameters = {} if create else dict(iter_parameters(existing))

    result = StackResult(
        stack=stack,
        action="dry-run" if dry_run else ("created" if create else "updated"),
        parameter_changes=parameter_lines(old_parameters, {k: str(v) for k, v in parameters.items()}),
        template_changes=template_diff(old_template, template),
    )
    body = json.dumps(template, separators=(",", ":"), sort_keys=True)
    try:
        change_set_id = cfn.create_change_set(
            stack=stack, name=change_set_name(), template_body=body, parameters=parameters, create=create
        )
    except AwsError as exc:
        if create or exc.code != "ValidationError" or not any(r in exc.aws_message for r in NO_CHANGES_REASONS):
            raise
        # the answer of UpdateStack to an unchanged stack, which some emulators give CreateChangeSet too
        result.action, result.status = "noop", status or ""
        progress.line(f"{stack}: no changes")
        return result
    change_set = cfn.wait_change_set(change_set_id)
    if change_set.empty:
        cfn.delete_change_set(change_set_id)
        result.action, result.status = "noop", status or ""
        progress.line(f"{stack}: no changes")
        return result
    if change_set.status != "CREATE_COMPLETE":
        raise ProvisionFailed(f"change set for {stack} failed: {change_set.reason}", [])
    result.changes = change_rows(change_set.changes)
    progress.line(f"{stack}: {'create' if create else 'update'} with {len(result.changes)} change(s)")
    for row in result.changes:
        progress.line("  " + row.line())
    for text in result.parameter_changes:
        progress.line("  parameter " + text)

    if dry_run:
        cfn.delete_change_set(change_set_id)
        if create:
            cfn.delete_stack(stack)  # the empty REVIEW_IN_PROGRESS stack the change set made
        progress.line(f"{stack}: dry run, change set deleted, nothing changed")
        return result

    seen = {e.event_id for e in cfn.events(stack)}
    cfn.execute_change_set(change_set_id)
    final, events = cfn.wait_stack(stack, seen=seen, timeout=timeout, on_event=progress.event)
    result.status = final
    if final not in SUCCESS:
        causes = [e.line() for e in events if e.failed and e.reason] or [e.line() for e in events[-5:]]
        raise ProvisionFailed(f"stack {stack} ended {final}; the events that failed:", causes)
    progress.line(f"{stack}: {final}")
    return result
