"""The journal's contract in memory, for unit tests and dry runs: the same locks, fencing, parts and
in-flight items as deployer.release.journal.DynamoJournal, in dicts."""

from __future__ import annotations

import json

from deployer.release.journal import IN_FLIGHT, RELEASED, Lease, LostLock, locked_message
from deployer.release.record import ReleaseRecord
from deployer.release.record_parts import Persisted, assemble, log_sk, parts_to_write


class MemoryJournal:
    """The same contract in memory, for unit tests and dry runs."""

    def __init__(self):
        self.locks: dict[str, Lease] = {}
        self.items: dict[tuple[str, str], str | bytes] = {}  # (service, sort key) -> what DynamoDB would hold
        self.commands: dict[tuple[str, str], str] = {}
        self._persisted: dict[tuple[str, str], Persisted] = {}

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
            self.locks[lease.service] = Lease(lease.service, lease.holder, lease.release_id, lease.token, RELEASED)

    def save(self, record):
        key = (record.service, record.id)
        head = self.items.get((record.service, f"release#{record.id}"))
        if head is not None and json.loads(head)["fence"] > record.fence:
            raise LostLock(f"{record.service}: release {record.id} was taken over by a newer runner; stopping")
        parts = parts_to_write(record, self._persisted.setdefault(key, Persisted()))
        self.items[(record.service, f"release#{record.id}")] = parts.head
        if parts.plan is not None:
            self.items[(record.service, f"plan#{record.id}")] = parts.plan
        if parts.log is not None:
            self.items[(record.service, log_sk(record.id, parts.seq))] = parts.log
        if record.finished:
            self.items.pop((IN_FLIGHT, record.service), None)
        else:
            self.items[(IN_FLIGHT, record.service)] = record.id
        self._persisted[key] = parts.after

    def in_flight(self):
        return sorted((sk, rid) for (pk, sk), rid in self.items.items() if pk == IN_FLIGHT)

    def forget_in_flight(self, service, release_id):
        if self.items.get((IN_FLIGHT, service)) == release_id:
            del self.items[(IN_FLIGHT, service)]

    def load(self, service, release_id):
        head = self.items.get((service, f"release#{release_id}"))
        if head is None:
            return None
        prefix = f"log#{release_id}#"
        logs = [text for (s, sk), text in sorted(self.items.items()) if s == service and sk.startswith(prefix)]
        record, done = assemble(head, self.items.get((service, f"plan#{release_id}")), logs)
        self._persisted[(service, release_id)] = done
        return record

    def latest(self, service):
        ids = self._ids(service)
        return self.load(service, ids[0]) if ids else None

    def history(self, service, limit=20):
        return [ReleaseRecord.from_parts(self.items[(service, f"release#{rid}")]) for rid in self._ids(service)[:limit]]

    def _ids(self, service) -> list[str]:
        return sorted((sk.split("#", 1)[1] for s, sk in self.items if s == service and sk.startswith("release#")), reverse=True)

    def send_command(self, service, release_id, command):
        self.commands[(service, release_id)] = command

    def command(self, service, release_id):
        return self.commands.get((service, release_id), "")

    def holder(self, service):
        current = self.locks.get(service)
        return None if current is None or current.expires_at == RELEASED else current

    def save_train(self, train, train_id, document):
        self.items[(f"train#{train}", f"run#{train_id}")] = document

    def train_history(self, train, limit=20):
        runs = sorted((sk for t, sk in self.items if t == f"train#{train}"), reverse=True)[:limit]
        return [self.items[(f"train#{train}", sk)] for sk in runs]
