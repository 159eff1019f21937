"""Target health from real HTTP checks, with each target group's path, interval and thresholds.

States as on AWS: initial -> healthy after `healthy_threshold` passes; -> unhealthy after
`unhealthy_threshold` failures; draining is set by the ECS controller while a task stops.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass



@dataclass
class Counter:
    passes: int = 0
    failures: int = 0
    next_check: float = 0.0


def matches(status: int, matcher: str) -> bool:
    for part in (matcher or "200-399").split(","):
        low, _, high = part.partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


def check(ip: str, port: int, path: str, timeout: float) -> int | None:
    try:
        connection = http.client.HTTPConnection(ip, port, timeout=timeout)
        connection.request("GET", path)
        status = connection.getresponse().status
        connection.close()
        return status
    except OSError:
        return None


class HealthChecker:
    def __init__(self, elbv2_backend, target_health):
        self.backend = elbv2_backend
        self.target_health = target_health
        self.counters: dict[tuple[str, str], Counter] = {}

    def tick(self, now: float | None = None) -> None:
        now = now or time.time()
        for tg in list(self.backend.target_groups.values()):
            interval = float(tg.health_check_interval_seconds or 30)
            timeout = min(float(tg.health_check_timeout_seconds or 5), interval, 2.0)
            healthy_n = int(tg.healthy_threshold_count or 5)
            unhealthy_n = int(tg.unhealthy_threshold_count or 2)
            matcher = (tg.matcher or {}).get("HttpCode", "200-399") if isinstance(tg.matcher, dict) else "200-399"
            for target_id, target in list(tg.targets.items()):
                key = (tg.arn, target_id)
                state = self.target_health.state(*key)
                if state == "draining":
                    continue
                counter = self.counters.setdefault(key, Counter(next_check=now))
                if now < counter.next_check:
                    continue
                counter.next_check = now + interval
                status = check(target_id, int(target["Port"]), tg.health_check_path or "/", timeout)
                if status is not None and matches(status, matcher):
                    counter.passes, counter.failures = counter.passes + 1, 0
                    if state != "healthy" and counter.passes >= healthy_n:
                        self.target_health.set(*key, "healthy")
                else:
                    counter.failures, counter.passes = counter.failures + 1, 0
                    reason = "Target.Timeout" if status is None else "Target.ResponseCodeMismatch"
                    if state in ("healthy", "initial") and counter.failures >= unhealthy_n:
                        self.target_health.set(*key, "unhealthy", reason)
        for key in [k for k in self.counters if k[1] not in getattr(self.backend.target_groups.get(k[0]), "targets", {})]:
            del self.counters[key]

    def state(self, tg_arn: str, target_id: str) -> str:
        return self.target_health.state(tg_arn, target_id)
