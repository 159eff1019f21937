"""Release records and the per-service lock, in the bootstrap DynamoDB table.

Lock: one item per service, taken by a conditional write, held with a lease that the holder
renews (heartbeat); a crashed holder's lease expires and the next release takes over. Every
take-over increments a fencing token; record writes carry it and are refused when a newer
holder exists, so a stale process cannot overwrite the record of the one that replaced it.

Records are stored in parts, so that writing one does not cost more as the release goes on:
the head `release#<id>` (state, step, weights: bounded, rewritten at each save), the plan
`plan#<id>` (written once, compressed) and the log `log#<id>#<seq>` (the events and verdicts
added since the previous save, appended). One save is one TransactWriteItems: the head's fence
condition guards the plan and log writes with it.

In flight: an item per service under `inflight` while its latest release is unfinished, written in
the same transaction when that changes, so the judge function's guard finds every release it may
have to finish with one Query, whatever the size of the history.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

from deployer.aws.dynamodb import ConditionFailed, Table
from deployer.errors import DeployerError, Locked
from deployer.release.record import ReleaseRecord, iso
from deployer.release.record_parts import Persisted, assemble, log_sk, parts_to_write


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
    def in_flight(self) -> list[tuple[str, str]]: ...  # (service, release id) of unfinished releases
    def forget_in_flight(self, service: str, release_id: str) -> None: ...  # a marker its record outlived
    def save_train(self, train: str, train_id: str, document: str) -> None: ...
    def train_history(self, train: str, limit: int = 20) -> list[str]: ...  # documents, newest first


def _pk(service: str) -> dict:
    return {"S": f"service#{service}"}


IN_FLIGHT = "inflight"
RELEASED = 0.0  # a lock's expiry once its holder released it: nobody holds it, its token counts on


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


def _blob(value) -> bytes:
    """A binary attribute as boto3 gives it back (bytes) or as a low-level client does (base64)."""
    return value if isinstance(value, (bytes, bytearray)) else base64.b64decode(value)


class DynamoJournal:
    def __init__(self, table: Table):
        self.table = table
        self._persisted: dict[tuple[str, str], Persisted] = {}
        self._in_flight: dict[tuple[str, str], bool] = {}  # what this process last wrote of each record's marker

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
        """The lease ends now; the item and its token stay, so the next holder's token is higher than
        every token a record was written with (deleting it would start the count again at 1, and the
        records written by a takeover's token 2 would refuse every later writer)."""
        key = {"pk": _pk(lease.service), "sk": {"S": "lock"}}
        item = {**key, "holder": {"S": lease.holder}, "release_id": {"S": lease.release_id},
                "token": {"N": str(lease.token)}, "expires_at": {"N": "0"}}
        try:
            self.table.put(item, condition="#t = :mine", names={"#t": "token"}, values={":mine": {"N": str(lease.token)}})
        except ConditionFailed:
            pass  # already taken over; nothing of ours to release
        except DeployerError:
            pass  # the lease expires by itself; releasing early is a courtesy

    # --- records ---
    def save(self, record: ReleaseRecord) -> None:
        key = (record.service, record.id)
        parts = parts_to_write(record, self._persisted.setdefault(key, Persisted()))
        pk = _pk(record.service)
        head = {"pk": pk, "sk": {"S": f"release#{record.id}"}, "fence": {"N": str(record.fence)}, "head": {"S": parts.head}}
        writes = [{"Put": {"Item": head, "ConditionExpression": "attribute_not_exists(pk) OR fence <= :fence",
                           "ExpressionAttributeValues": {":fence": {"N": str(record.fence)}}}}]
        if parts.plan is not None:
            writes.append({"Put": {"Item": {"pk": pk, "sk": {"S": f"plan#{record.id}"}, "plan": {"B": parts.plan}}}})
        if parts.log is not None:
            writes.append({"Put": {"Item": {"pk": pk, "sk": {"S": log_sk(record.id, parts.seq)}, "log": {"S": parts.log}}}})
        unfinished = not record.finished
        if self._in_flight.get(key) != unfinished:
            marker = {"pk": {"S": IN_FLIGHT}, "sk": _pk(record.service)}
            writes.append({"Put": {"Item": {**marker, "release_id": {"S": record.id}}}} if unfinished else {"Delete": {"Key": marker}})
        token = hashlib.sha256(f"{record.id}|{record.fence}|{parts.seq}|{parts.head}".encode()).hexdigest()[:36]
        try:
            self.table.transact(writes, token=token)
        except ConditionFailed:
            raise LostLock(f"{record.service}: release {record.id} was taken over by a newer runner; stopping") from None
        self._persisted[key] = parts.after
        self._in_flight[key] = unfinished

    def in_flight(self) -> list[tuple[str, str]]:
        return [(i["sk"]["S"].split("#", 1)[1], i["release_id"]["S"]) for i in self.table.query_all(IN_FLIGHT, "service#")]

    def forget_in_flight(self, service: str, release_id: str) -> None:
        """The marker of a release that finished without removing it (e.g. an older deployer's): only
        if it still names that release."""
        try:
            self.table.delete({"pk": {"S": IN_FLIGHT}, "sk": _pk(service)}, condition="release_id = :id",
                              values={":id": {"S": release_id}})
        except ConditionFailed:
            pass

    def _assemble(self, service: str, head_item: dict) -> ReleaseRecord:
        head = head_item["head"]["S"] if "head" in head_item else head_item["doc"]["S"]  # "doc": one whole legacy item
        release_id = json.loads(head)["id"]
        plan_item = self.table.get({"pk": _pk(service), "sk": {"S": f"plan#{release_id}"}})
        logs = [i["log"]["S"] for i in self.table.query_all(f"service#{service}", f"log#{release_id}#")]
        record, done = assemble(head, _blob(plan_item["plan"]["B"]) if plan_item else None, logs)
        self._persisted[(service, release_id)] = done
        return record

    def load(self, service: str, release_id: str) -> ReleaseRecord | None:
        item = self.table.get({"pk": _pk(service), "sk": {"S": f"release#{release_id}"}})
        return self._assemble(service, item) if item else None

    def latest(self, service: str) -> ReleaseRecord | None:
        items = self.table.query_prefix(f"service#{service}", "release#", newest_first=True, limit=1)
        return self._assemble(service, items[0]) if items else None

    def history(self, service: str, limit: int = 20) -> list[ReleaseRecord]:
        """Newest first, heads only (no plan, events or verdicts): what `history` and `rollback` read."""
        items = self.table.query_prefix(f"service#{service}", "release#", newest_first=True, limit=limit)
        return [ReleaseRecord.from_parts(i["head"]["S"] if "head" in i else i["doc"]["S"]) for i in items]

    # --- commands from other processes (promote / abort), kept apart from the record ---
    def send_command(self, service: str, release_id: str, command: str) -> None:
        self.table.put({"pk": _pk(service), "sk": {"S": f"command#{release_id}"}, "command": {"S": command}})

    def command(self, service: str, release_id: str) -> str:
        item = self.table.get({"pk": _pk(service), "sk": {"S": f"command#{release_id}"}})
        return item["command"]["S"] if item else ""

    def holder(self, service: str) -> Lease | None:
        item = self.table.get({"pk": _pk(service), "sk": {"S": "lock"}})
        if not item or float(item["expires_at"]["N"]) == RELEASED:
            return None
        return Lease(service, item["holder"]["S"], item["release_id"]["S"], int(item["token"]["N"]), float(item["expires_at"]["N"]))

    # --- trains: one document per run, beside the services' records ---
    def save_train(self, train: str, train_id: str, document: str) -> None:
        self.table.put({"pk": {"S": f"train#{train}"}, "sk": {"S": f"run#{train_id}"}, "doc": {"S": document}})

    def train_history(self, train: str, limit: int = 20) -> list[str]:
        return [i["doc"]["S"] for i in self.table.query_prefix(f"train#{train}", "run#", newest_first=True, limit=limit)]
