"""CloudFormation: stacks, change sets and their events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Iterator

from deployer.aws.base import Adapter
from deployer.errors import AwsError, NotFound, TimedOut

IN_PROGRESS_SUFFIX = "_IN_PROGRESS"
FAILED_STATES = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_FAILED"}
NO_CHANGES_REASONS = ("didn't contain changes", "No updates are to be performed", "The submitted information didn't contain changes")


@dataclass(frozen=True)
class StackEvent:
    event_id: str
    timestamp: str
    logical_id: str
    resource_type: str
    status: str
    reason: str

    def line(self) -> str:
        text = f"{self.timestamp[11:19]}  {self.status:<28} {self.logical_id} ({self.resource_type})"
        return f"{text}: {self.reason}" if self.reason else text

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")


@dataclass(frozen=True)
class ChangeSet:
    change_set_id: str
    status: str
    reason: str
    changes: list[dict]

    @property
    def empty(self) -> bool:
        return self.status == "FAILED" and any(r in self.reason for r in NO_CHANGES_REASONS)


class CloudFormation(Adapter):
    service_name = "cloudformation"

    def stack(self, name: str) -> dict | None:
        """The stack, or None if there is none (or only a deleted one)."""
        try:
            stacks = self._call("describe_stacks", idempotent=True, StackName=name)["Stacks"]
        except (NotFound, AwsError) as exc:
            if isinstance(exc, NotFound) or "does not exist" in exc.aws_message:
                return None
            raise
        return stacks[0] if stacks and stacks[0]["StackStatus"] != "DELETE_COMPLETE" else None

    def outputs(self, name: str) -> dict[str, str]:
        stack = self.stack(name)
        if stack is None:
            raise NotFound("DescribeStacks", "ValidationError", f"Stack {name} does not exist", hint="run `deployer provision` first")
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def template(self, name: str) -> dict:
        body = self._call("get_template", idempotent=True, StackName=name, TemplateStage="Original")["TemplateBody"]
        return body if isinstance(body, dict) else json.loads(body)

    def create_change_set(self, *, stack: str, name: str, template_body: str, parameters: dict[str, str], create: bool) -> str:
        response = self._call(
            "create_change_set",
            idempotent=False,
            StackName=stack,
            ChangeSetName=name,
            ChangeSetType="CREATE" if create else "UPDATE",
            TemplateBody=template_body,
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(parameters.items())],
            Capabilities=["CAPABILITY_IAM"],
            Tags=[{"Key": "managed-by", "Value": "deployer"}],
        )
        return response["Id"]

    def wait_change_set(self, change_set_id: str, *, timeout: float = 300) -> ChangeSet:
        deadline = self.clock() + timeout
        delay = 1.0
        while True:
            response = self._call("describe_change_set", idempotent=True, ChangeSetName=change_set_id)
            status = response["Status"]
            if not status.endswith(IN_PROGRESS_SUFFIX) and status != "CREATE_PENDING":
                changes = list(response.get("Changes", []))
                token = response.get("NextToken")
                while token:
                    more = self._call("describe_change_set", idempotent=True, ChangeSetName=change_set_id, NextToken=token)
                    changes.extend(more.get("Changes", []))
                    token = more.get("NextToken")
                return ChangeSet(change_set_id, status, response.get("StatusReason", ""), changes)
            if self.clock() > deadline:
                raise TimedOut(f"change set {change_set_id} still {status} after {timeout:.0f}s")
            self.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    def execute_change_set(self, change_set_id: str) -> None:
        self._call("execute_change_set", idempotent=False, ChangeSetName=change_set_id)

    def delete_change_set(self, change_set_id: str) -> None:
        self._call("delete_change_set", idempotent=True, ChangeSetName=change_set_id)

    def delete_stack(self, name: str) -> None:
        self._call("delete_stack", idempotent=True, StackName=name)

    def events(self, name: str) -> list[StackEvent]:
        """Newest first, as AWS returns them (first page is enough for one operation's story)."""
        response = self._call("describe_stack_events", idempotent=True, StackName=name)
        return [
            StackEvent(
                event_id=e["EventId"],
                timestamp=str(e.get("Timestamp", "")),
                logical_id=e.get("LogicalResourceId", ""),
                resource_type=e.get("ResourceType", ""),
                status=e.get("ResourceStatus", ""),
                reason=e.get("ResourceStatusReason", "") or "",
            )
            for e in response.get("StackEvents", [])
        ]

    def wait_stack(
        self, name: str, *, seen: set[str], timeout: float = 3600, on_event: Callable[[StackEvent], None] = lambda e: None
    ) -> tuple[str, list[StackEvent]]:
        """Poll until the stack leaves *_IN_PROGRESS; report each new event once (oldest first).

        Returns the final status and every event seen during the wait.
        """
        deadline = self.clock() + timeout
        delay = 2.0
        collected: list[StackEvent] = []
        while True:
            for event in reversed(self.events(name)):
                if event.event_id not in seen:
                    seen.add(event.event_id)
                    collected.append(event)
                    on_event(event)
            stack = self.stack(name)
            status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
            if not status.endswith(IN_PROGRESS_SUFFIX):
                return status, collected
            if self.clock() > deadline:
                raise TimedOut(f"stack {name} still {status} after {timeout:.0f}s", hint="watch it in the CloudFormation console")
            self.sleep(delay)
            delay = min(delay * 1.3, 10.0)


def iter_parameters(stack: dict) -> Iterator[tuple[str, str]]:
    for p in stack.get("Parameters", []):
        yield p["ParameterKey"], p.get("ParameterValue", "")
