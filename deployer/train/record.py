"""A train's own record: its members and their releases, the order, the outcome, and why it stopped.

Each member keeps its own release record (plan, verdicts, events); the train's record names them
by release id. It is one JSON document: the member plans live in the members' records, so even a
train of 200 members stays far below DynamoDB's 400 KB item limit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

RUNNING = "running"
RELEASED = "released"  # every member released
ROLLED_BACK = "rolled_back"  # a member failed; on_failure applied (rollback_all or stop)
INTERRUPTED = "interrupted"  # stopped by a signal: traffic back on each running member's stable color
FAILED = "failed"  # something broke that a rollback could not put right: look before acting
UNFINISHED = (RUNNING, INTERRUPTED)

# a member's state in the train
PENDING, MEMBER_RUNNING, MEMBER_RELEASED, MEMBER_FAILED = "pending", "running", "released", "failed"
MEMBER_STOPPED, MEMBER_ROLLED_BACK, MEMBER_KEPT = "stopped", "rolled_back", "kept"


@dataclass
class MemberState:
    service: str
    wave: int
    image: str
    state: str = PENDING
    release_id: str = ""
    reason: str = ""


@dataclass
class TrainRecord:
    id: str
    train: str
    actor: str
    started_at: float
    plan: dict
    members: dict[str, MemberState]
    state: str = RUNNING
    wave: int = 0  # the wave running (or the last one run)
    finished_at: float | None = None
    reason: str = ""  # why it stopped: "web: error_rate_above_limit: ..."
    events: list[dict] = field(default_factory=list)

    def note(self, at: float, text: str) -> None:
        self.events.append({"at": round(at, 3), "text": text})

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "TrainRecord":
        data = json.loads(text)
        data["members"] = {name: MemberState(**m) for name, m in data["members"].items()}
        return cls(**data)

    def summary(self) -> dict:
        return {"id": self.id, "train": self.train, "state": self.state, "actor": self.actor, "wave": self.wave + 1,
                "started_at": self.started_at, "finished_at": self.finished_at, "reason": self.reason,
                "members": {n: {"wave": m.wave + 1, "state": m.state, "release_id": m.release_id, "image": m.image,
                                **({"reason": m.reason} if m.reason else {})} for n, m in self.members.items()}}
