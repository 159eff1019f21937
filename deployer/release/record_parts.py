"""A release record in parts whose size does not grow with the release. Pure.

The head (state, step, weights, revisions: bounded) is rewritten at each save; the plan is written
once, compressed; each save that added events or verdicts appends one log item with just those.
`parts_to_write` says what one save writes given what is already stored; `assemble` puts a record
back together (also from one legacy item that held it whole: its parts are then written anew).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

from deployer.release.record import ReleaseRecord


@dataclass
class Persisted:
    """How much of a record this journal knows to be stored: the log items after these are new."""

    events: int = 0
    verdicts: int = 0
    seq: int = 0  # log items written
    plan: bool = False


@dataclass(frozen=True)
class Parts:
    """What one save writes: the head always; the plan the first time; a log item when anything was added."""

    head: str
    plan: bytes | None
    log: str | None
    seq: int
    after: Persisted


def parts_to_write(record: ReleaseRecord, done: Persisted) -> Parts:
    new_events, new_verdicts = record.events[done.events:], record.verdicts[done.verdicts:]
    grew = bool(new_events or new_verdicts)
    log = json.dumps({"events": new_events, "verdicts": new_verdicts}, sort_keys=True, default=str) if grew else None
    plan = None if done.plan else pack(record.plan)
    seq = done.seq + 1 if grew else done.seq
    return Parts(record.head_json(), plan, log, seq, Persisted(len(record.events), len(record.verdicts), seq, True))


def pack(data: dict) -> bytes:
    return zlib.compress(json.dumps(data, sort_keys=True, default=str).encode(), 6)


def unpack(blob: bytes) -> dict:
    return json.loads(zlib.decompress(blob))


def assemble(head: str, plan: bytes | None, logs: list[str]) -> tuple[ReleaseRecord, Persisted]:
    """A record from its parts (or from one legacy item that held it whole: its parts get written anew)."""
    legacy = "events" in json.loads(head)
    events: list = []
    verdicts: list = []
    for text in logs:
        chunk = json.loads(text)
        events += chunk["events"]
        verdicts += chunk["verdicts"]
    record = ReleaseRecord.from_parts(head, unpack(plan) if plan else None, events, verdicts)
    done = Persisted() if legacy else Persisted(len(record.events), len(record.verdicts), len(logs), plan is not None)
    return record, done


def log_sk(release_id: str, seq: int) -> str:
    return f"log#{release_id}#{seq:08d}"
