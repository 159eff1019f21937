"""What the sandbox's health checker has seen of each target: one object per sandbox process.

The health checker and the ECS controller write it (registration, checks, draining); the
proxies route by it and the emulated DescribeTargetHealth reports it. Each part is handed the
same object; a lock keeps the threads' reads and writes whole.
"""

from __future__ import annotations

import threading

INITIAL = ("initial", "Elb.RegistrationInProgress")


class TargetHealth:
    def __init__(self) -> None:
        self._states: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()

    def describe(self, group: str, target: str) -> tuple[str, str]:
        """(state, reason) as DescribeTargetHealth gives them; a target not yet checked is `initial`."""
        with self._lock:
            return self._states.get((group, target), INITIAL)

    def state(self, group: str, target: str) -> str:
        return self.describe(group, target)[0]

    def is_healthy(self, group: str, target: str) -> bool:
        """Only a healthy target takes new requests (as on an ALB)."""
        return self.state(group, target) == "healthy"

    def set(self, group: str, target: str, state: str, reason: str = "") -> None:
        with self._lock:
            self._states[(group, target)] = (state, reason)

    def forget(self, group: str, target: str) -> None:
        """The target left its group (deregistered): nothing more to report about it."""
        with self._lock:
            self._states.pop((group, target), None)
