"""SIGINT/SIGTERM during a release: ask the executor to stop (it restores traffic, exit 130).

A second signal stops at once. A GitHub runner sends SIGINT, waits 7.5 s, then SIGTERM; the
executor notices a stop within one sleep slice (at most 1 s) and restores traffic in one call.
"""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def stop_on_signals():
    stop = threading.Event()
    previous = {}

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (tests, webhook workers): no handlers
            pass
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
