"""What one call of the judge function works with: the records table (from DEPLOYER_TABLE) and, per
release, an executor built from the spec stored with it, since a Lambda has no deployer.yaml."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from deployer.release.journal import DynamoJournal

log = logging.getLogger("deployer.judge")


class LogProgress:
    """The executor's progress as log lines (CloudWatch Logs, through the function's stderr)."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def line(self, text: str) -> None:
        log.info("%s %s", self.prefix, text.strip())

    def untrusted(self, text: str) -> None:
        self.line(repr(text))  # text from outside (ECS events) shown quoted, never as our own words

    def step(self, index: int, total: int, text: str) -> None:
        self.line(f"[{index}/{total}] {text}")

    def verdict(self, step: str, data: dict) -> None:
        self.line(f"gate at {step}: {data['outcome']} ({data['reason']}): {data['detail']}")

    def close(self) -> None:
        pass


@dataclass
class JudgeContext:
    table: str
    holder: str  # who takes the lock: the function and its request
    poll: float = 2.0
    clock: Callable[[], float] = time.time
    _clients: object = field(default=None, init=False, repr=False)
    _journal: DynamoJournal | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_env(cls, env, context=None) -> "JudgeContext":
        table = env.get("DEPLOYER_TABLE")
        if not table:
            raise RuntimeError("DEPLOYER_TABLE is not set: the judge function needs the release records table")
        request = getattr(context, "aws_request_id", None) or f"{time.time():.3f}"
        return cls(table=table, holder=f"judge:{env.get('AWS_LAMBDA_FUNCTION_NAME', 'deployer-judge')}/{request}")

    @property
    def clients(self):
        if self._clients is None:
            from deployer.aws.session import AwsSettings, ClientFactory

            self._clients = ClientFactory(AwsSettings.from_env())  # the function's region (and endpoint, in the sandbox)
        return self._clients

    @property
    def journal(self) -> DynamoJournal:
        if self._journal is None:
            from deployer.aws.dynamodb import Table

            self._journal = DynamoJournal(Table(self.clients.client("dynamodb"), self.table))
        return self._journal

    def executor(self, service, prefix: str, stop: threading.Event | None = None):
        from deployer.release.wiring import executor, service_target

        return executor(service, service_target(service, self.clients), self.journal, LogProgress(prefix), poll=self.poll, stop=stop)
