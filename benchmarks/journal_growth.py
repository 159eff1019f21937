"""Cost of a release step as the release grows: plan + execute canaries of 4, 20 and 100 weights
(19, 67 and 307 steps) against the unit-test fakes, and the largest record item written. The cost per step
must stay flat (a journal that rewrote the whole record at every step grew with the square of
the step count). Run: .venv/bin/python benchmarks/journal_growth.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deployer.release import service as releases  # noqa: E402
from deployer.release.executor import Executor, Settings  # noqa: E402
from deployer.release.memory_journal import MemoryJournal  # noqa: E402
from deployer.release.plan import ReleaseRequest  # noqa: E402
from deployer.spec import load_config  # noqa: E402
from tests.fakes import Behaviour, FakeClock, FakeTarget, RecordingProgress  # noqa: E402


class SizedJournal(MemoryJournal):
    """MemoryJournal that remembers the largest item it was asked to write."""

    largest = 0

    def save(self, record) -> None:
        super().save(record)
        head = self.items[(record.service, f"release#{record.id}")]
        newest = next(reversed(self.items.values()))  # the log item (or plan) this save added, if any
        self.largest = max(self.largest, len(head), len(newest))


def run(service, weights: int) -> tuple[float, int, int]:
    clock = FakeClock()
    target = FakeTarget.colors_service(clock, behaviour={"example/web:2": Behaviour(0.0, 100)})
    journal = SizedJournal()
    executor = Executor(service, target, journal, RecordingProgress(), clock=clock, sleep=clock.sleep, settings=Settings(poll=2.0))
    steps = tuple(100 * (i + 1) // weights for i in range(weights))
    request = ReleaseRequest(image="example/web:2", strategy="canary", steps=steps, bake=0, keep_previous=0)
    started = time.perf_counter()
    record = releases.release(executor, request, actor="bench")
    elapsed = time.perf_counter() - started
    return elapsed, len(record.plan["steps"]) if isinstance(record.plan, dict) else 0, journal.largest


def main() -> None:
    service = load_config(ROOT / "examples" / "deployer.yaml").services["web"]
    service = service.replace(**{"release": service.release.replace(**{"gates": service.release.gates.replace(**{"min_requests": 1, "max_5xx_rate": 50.0})})})
    run(service, 4)  # warm-up: imports and caches, not counted
    print(f"{'weights':>7} {'steps':>6} {'seconds':>8} {'us/step':>9} {'largest item':>13}")
    rows = []
    for weights in (4, 20, 100):
        elapsed, steps, largest = run(service, weights)
        per_step = elapsed / steps * 1e6
        rows.append(per_step)
        print(f"{weights:>7} {steps:>6} {elapsed:>8.2f} {per_step:>9.0f} {largest / 1024:>10.1f} KB")
    print(f"us/step at 100 weights / at 4 weights: {rows[2] / rows[0]:.2f}x")


if __name__ == "__main__":
    main()
