"""The release record: everything needed to explain, resume or roll back a release. Pure data."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone

RUNNING = "running"
PAUSED = "paused"
ROLLING_BACK = "rolling_back"
RELEASED = "released"
ROLLED_BACK = "rolled_back"
FAILED = "failed"
INTERRUPTED = "interrupted"
FINISHED = (RELEASED, ROLLED_BACK, FAILED)


_last_id_at = [0.0]
_id_lock = threading.Lock()


def new_release_id(now: float) -> str:
    """Time-ordered, to the millisecond: a service's records sort by id (the journal's sort key), so
    `latest` is the newest. Strictly increasing within a process (a train's member released and
    rolled back in the same millisecond still sorts right); across processes a millisecond apart."""
    with _id_lock:
        now = max(now, _last_id_at[0] + 0.001)
        _last_id_at[0] = now
    millis = int(round(now * 1000))
    stamp = datetime.fromtimestamp(millis // 1000, timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}.{millis % 1000:03d}Z-{secrets.token_hex(3)}"


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


@dataclass
class ReleaseRecord:
    id: str
    service: str
    strategy: str
    image: str
    actor: str
    started_at: float
    plan: dict  # Plan.to_dict()
    from_revision: str = ""
    to_revision: str = ""
    live: str = ""  # the color serving at the start (after promotion: the new one)
    target: str = ""
    state: str = RUNNING
    step_index: int = 0  # the next step to run
    rollback_steps: list = field(default_factory=list)
    rollback_index: int = 0
    reason: str = ""  # why it rolled back / failed
    verdicts: list = field(default_factory=list)
    events: list = field(default_factory=list)  # {at, step, text}
    weights: dict = field(default_factory=dict)
    shifted_at: float | None = None  # when traffic last moved: gate windows start there
    scale_down_at: float | None = None
    scale_down_color: str = ""
    finished_at: float | None = None
    fence: int = 0  # the lock token of the writer
    ecs_deployment: str = ""  # engine ecs: the ARN of ECS's service deployment
    judge: str = ""  # who decides now: "" (the runner), "lambda" (ECS's hooks call the judge function), "guard"
    step_started_at: float | None = None  # when the step at step_index began: a run taken over goes on from there

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def note(self, at: float, step: int | None, text: str) -> None:
        self.events.append({"at": round(at, 3), "step": step, "text": text})

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "ReleaseRecord":
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    # A journal stores a record in parts whose size does not grow with the release: the head (what
    # changes, bounded), the plan (written once) and the log (events and verdicts, appended).
    GROWING = ("plan", "events", "verdicts")

    def head_json(self) -> str:
        head = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.GROWING}
        return json.dumps(head, sort_keys=True, default=str)

    @classmethod
    def from_parts(cls, head: str, plan: dict | None = None, events: list | None = None, verdicts: list | None = None) -> "ReleaseRecord":
        data = json.loads(head)
        known = {f for f in cls.__dataclass_fields__}
        parts = {"plan": plan or data.get("plan") or {}, "events": events or data.get("events") or [],
                 "verdicts": verdicts or data.get("verdicts") or []}
        return cls(**{**{k: v for k, v in data.items() if k in known}, **parts})

    def summary(self) -> dict:
        return {
            "release_id": self.id,
            "service": self.service,
            "strategy": self.strategy,
            "image": self.image,
            "state": self.state,
            "from_revision": self.from_revision,
            "to_revision": self.to_revision,
            "live": self.live,
            "reason": self.reason,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "actor": self.actor,
            "judge": self.judge or "runner",
        }
