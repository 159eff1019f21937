"""Release records and the per-service lock, in the bootstrap DynamoDB table.

Lock: one item per service, taken by a conditional write, held with a lease that the holder
renews (heartbeat); a crashed holder's lease expires and the next release takes over. Every
take-over increments a fencing token; record writes carry it and are refused when a newer
holder exists, so a stale process cannot overwrite the record of the one that replaced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from deployer.aws.dynamodb import ConditionFailed, Table
from deployer.errors import DeployerError, Locked
from deployer.release.record import ReleaseRecord, iso


@dataclass(frozen=True)
class Lease:
    service: str
    holder: str
    release_id: str
    token: int
    expires_at: float


class LostLock(Locked):
    """Someone took the lock over (our lease had expired): stop touching the service."""


class Journal(Protocol):
    def acquire(self, service: str, holder: str, release_id: str, now: float, lease: float) -> Lease: ...
    def heartbeat(self, lease: Lease, now: float, duration: float) -> Lease: ...
    def release(self, lease: Lease) -> None: ...
    def save(self, record: ReleaseRecord) -> None: ...
    def load(self, service: str, release_id: str) -> ReleaseRecord | None: ...
    def latest(self, service: str) -> ReleaseRecord | None: ...
    def history(self, service: str, limit: int = 20) -> list[ReleaseRecord]: ...
    def send_command(self, service: str, release_id: str, command: str) -> None: ...
    def command(self, service: str, release_id: str) -> str: ...
    def holder(self, service: str) -> Lease | None: ...


def _pk(service: str) -> dict:
    return {"S": f"service#{service}"}


def locked_message(service: str, holder: str, release_id: str, expires_at: float, now: float | None = None) -> Locked:
    """What to do when a live lease is in the way: exactly which command, and from when."""
    left = f" ({max(0.0, expires_at - now):.0f} s from now)" if now is not None else ""
    wait = f"{max(1, int(expires_at - now) + 2)}s" if now is not None else "30s"
    return Locked(
        f"{service} is locked by {holder} (release {release_id}) until {iso(expires_at)}{left}",
        hint=f"if that runner is alive, let it finish; if it died, its lease runs out by then and "
             f"`deployer resume {service} --wait-for-lock {wait}` continues its release "
             f"(`deployer rollback {service} --wait-for-lock {wait}` undoes it)",
    )


class DynamoJournal:
    def __init__(self, table: Table):
        self.table = table

    # --- lock ---
    def acquire(self, service: str, holder: str, release_id: str, now: float, lease: float) -> Lease:
        key = {"pk": _pk(service), "sk": {"S": "lock"}}
        current = self.table.get(key)
        if current:
            expires = float(current["expires_at"]["N"])
            if expires > now:
                raise locked_message(service, current["holder"]["S"], current["release_id"]["S"], expires, now)
        token = int(current["token"]["N"]) + 1 if current else 1
        item = {**key, "holder": {"S": holder}, "release_id": {"S": release_id},
                "token": {"N": str(token)}, "expires_at": {"N": repr(now + lease)}}
        try:
            if current:
                self.table.put(item, condition="#t = :old", names={"#t": "token"}, values={":old": current["token"]})
            else:
                self.table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            winner = self.table.get(key) or {}
            if winner.get("release_id", {}).get("S") == release_id and winner.get("token", {}).get("N") == str(token):
                return Lease(service, holder, release_id, token, now + lease)  # our own write, retried
            raise locked_message(service, winner.get("holder", {}).get("S", "?"), winner.get("release_id", {}).get("S", "?"),
                                 float(winner.get("expires_at", {}).get("N", now)), now) from None
        return Lease(service, holder, release_id, token, now + lease)

    def heartbeat(self, lease: Lease, now: float, duration: float) -> Lease:
        key = {"pk": _pk(lease.service), "sk": {"S": "lock"}}
        item = {**key, "holder": {"S": lease.holder}, "release_id": {"S": lease.release_id},
                "token": {"N": str(lease.token)}, "expires_at": {"N": repr(now + duration)}}
        try:
            self.table.put(item, condition="#t = :mine", names={"#t": "token"}, values={":mine": {"N": str(lease.token)}})
        except ConditionFailed:
            raise LostLock(f"{lease.service}: the lock was taken over by another release; stopping") from None
        return Lease(lease.service, lease.holder, lease.release_id, lease.token, now + duration)

    def release(self, lease: Lease) -> None:
        key = {"pk": _pk(lease.service), "sk": {"S": "lock"}}
        try:
            self.table.delete(key, condition="#t = :mine", names={"#t": "token"}, values={":mine": {"N": str(lease.token)}})
        except ConditionFailed:
            pass  # already taken over; nothing of ours to release
        except DeployerError:
            pass  # the lease expires by itself; releasing early is a courtesy

    # --- records ---
    def save(self, record: ReleaseRecord) -> None:
        item = {"pk": _pk(record.service), "sk": {"S": f"release#{record.id}"},
                "fence": {"N": str(record.fence)}, "doc": {"S": record.to_json()}}
        try:
            self.table.put(item, condition="attribute_not_exists(pk) OR fence <= :fence", values={":fence": {"N": str(record.fence)}})
        except ConditionFailed:
            raise LostLock(f"{record.service}: release {record.id} was taken over by a newer runner; stopping") from None

    def load(self, service: str, release_id: str) -> ReleaseRecord | None:
        item = self.table.get({"pk": _pk(service), "sk": {"S": f"release#{release_id}"}})
        return ReleaseRecord.from_json(item["doc"]["S"]) if item else None

    def latest(self, service: str) -> ReleaseRecord | None:
        found = self.history(service, limit=1)
        return found[0] if found else None

    def history(self, service: str, limit: int = 20) -> list[ReleaseRecord]:
        items = self.table.query_prefix(f"service#{service}", "release#", newest_first=True, limit=limit)
        return [ReleaseRecord.from_json(i["doc"]["S"]) for i in items]

    # --- commands from other processes (promote / abort), kept apart from the record ---
    def send_command(self, service: str, release_id: str, command: str) -> None:
        self.table.put({"pk": _pk(service), "sk": {"S": f"command#{release_id}"}, "command": {"S": command}})

    def command(self, service: str, release_id: str) -> str:
        item = self.table.get({"pk": _pk(service), "sk": {"S": f"command#{release_id}"}})
        return item["command"]["S"] if item else ""

    def holder(self, service: str) -> Lease | None:
        item = self.table.get({"pk": _pk(service), "sk": {"S": "lock"}})
        if not item:
            return None
        return Lease(service, item["holder"]["S"], item["release_id"]["S"], int(item["token"]["N"]), float(item["expires_at"]["N"]))


class MemoryJournal:
    """The same contract in memory, for unit tests and dry runs."""

    def __init__(self):
        self.locks: dict[str, Lease] = {}
        self.records: dict[tuple[str, str], str] = {}
        self.commands: dict[tuple[str, str], str] = {}

    def acquire(self, service, holder, release_id, now, lease):
        current = self.locks.get(service)
        if current and current.expires_at > now:
            raise locked_message(service, current.holder, current.release_id, current.expires_at, now)
        token = current.token + 1 if current else 1
        self.locks[service] = Lease(service, holder, release_id, token, now + lease)
        return self.locks[service]

    def heartbeat(self, lease, now, duration):
        current = self.locks.get(lease.service)
        if not current or current.token != lease.token:
            raise LostLock(f"{lease.service}: the lock was taken over by another release; stopping")
        self.locks[lease.service] = Lease(lease.service, lease.holder, lease.release_id, lease.token, now + duration)
        return self.locks[lease.service]

    def release(self, lease):
        current = self.locks.get(lease.service)
        if current and current.token == lease.token:
            del self.locks[lease.service]

    def save(self, record):
        key = (record.service, record.id)
        if key in self.records and ReleaseRecord.from_json(self.records[key]).fence > record.fence:
            raise LostLock(f"{record.service}: release {record.id} was taken over by a newer runner; stopping")
        self.records[key] = record.to_json()

    def load(self, service, release_id):
        text = self.records.get((service, release_id))
        return ReleaseRecord.from_json(text) if text else None

    def latest(self, service):
        found = self.history(service, 1)
        return found[0] if found else None

    def history(self, service, limit=20):
        ids = sorted((rid for s, rid in self.records if s == service), reverse=True)[:limit]
        return [ReleaseRecord.from_json(self.records[(service, rid)]) for rid in ids]

    def send_command(self, service, release_id, command):
        self.commands[(service, release_id)] = command

    def command(self, service, release_id):
        return self.commands.get((service, release_id), "")

    def holder(self, service):
        return self.locks.get(service)
