"""A tiny HTTP service standing in for a real container image (WSGI, served by werkzeug).

`/` answers with its version, `/health` with 200; every answer also carries the version in the
header `X-App-Version` (what traffic counters read, without parsing bodies). Faults come from
the environment, so a release can bring a bad version without a new build:

  APP_VERSION         what `/` reports (default "1")
  PORT / HOST         where to listen (default 8080 on 127.0.0.1)
  ERROR_RATE          fraction 0..1 of `/` requests answered 500
  EXTRA_LATENCY_MS    milliseconds added to every `/` request
  FAIL_HEALTH         "1": `/health` answers 503
  CRASH_AT_START      "1": exit with status 3 before listening
  CRASH_AFTER_SECONDS exit with status 3 this long after starting (a task that dies while serving)
  CHECKOUT_FAILURE_RATE fraction 0..1 of `/` requests whose (pretend) checkout fails: still a 200,
                      but counted in the app's own metric
  ERROR_BURST         "ON/EVERY" seconds: every `/` request answers 500 during the first ON seconds of
                      each EVERY seconds of the clock (errors in bursts, e.g. "1/5"), none in between
  SLOW_FRACTION       fraction 0..1 of `/` requests that take SLOW_MS longer (a slow minority: the
  SLOW_MS             median does not move, the tail does)
  RESET_RATE          fraction 0..1 of `/` requests whose connection is closed without an answer (a
                      worker that dies mid-request: no status code, so no 5xx, only a dropped request)

Its own metrics: once a second it prints an embedded-metric-format line (namespace Example/App,
dimension ServiceName from ECS_SERVICE_NAME, which on ECS comes from the task metadata endpoint):
Checkouts and CheckoutFailures. On ECS the awslogs driver turns it into CloudWatch metrics; the
sandbox does the same from the task's log.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time


def make_app(env: dict[str, str]):
    version = env.get("APP_VERSION", "1")
    name = env.get("APP_NAME", "app")
    error_rate = float(env.get("ERROR_RATE", "0") or 0)
    latency = float(env.get("EXTRA_LATENCY_MS", "0") or 0) / 1000.0
    fail_health = env.get("FAIL_HEALTH", "") == "1"
    checkout_failure_rate = float(env.get("CHECKOUT_FAILURE_RATE", "0") or 0)
    burst_on, _, burst_every = (env.get("ERROR_BURST") or "0/1").partition("/")
    burst_on, burst_every = float(burst_on), float(burst_every or 1)
    slow_fraction = float(env.get("SLOW_FRACTION", "0") or 0)
    slow = float(env.get("SLOW_MS", "0") or 0) / 1000.0
    reset_rate = float(env.get("RESET_RATE", "0") or 0)
    rng = random.Random(env.get("SEED"))
    counts = Counts()

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/health":
            status = "503 Service Unavailable" if fail_health else "200 OK"
            body = {"status": "failing" if fail_health else "ok", "version": version}
        elif path == "/":
            if latency or slow_fraction:
                time.sleep(latency + (slow if rng.random() < slow_fraction else 0.0))
            if reset_rate and rng.random() < reset_rate:
                drop_connection(environ)
            in_burst = burst_on > 0 and time.time() % burst_every < burst_on
            if in_burst or rng.random() < error_rate:
                status, body = "500 Internal Server Error", {"error": "injected fault", "version": version}
            else:
                status, body = "200 OK", {"app": name, "version": version}
                counts.add(failed=rng.random() < checkout_failure_rate)
        else:
            status, body = "404 Not Found", {"error": "not found"}
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                                ("X-App-Version", version)])
        return [data]

    app.counts = counts
    return app


def drop_connection(environ) -> None:
    """Close the client's connection with no answer: shut the socket down (the peer reads EOF, then
    a reset, as from a worker that died) and tell werkzeug the connection is gone, so it writes nothing."""
    import socket
    import struct

    sock = environ.get("werkzeug.socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("connection dropped as asked (RESET_RATE)")


class Counts:
    """Checkouts and failed checkouts since the last metrics line."""

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.checkouts = self.failures = 0

    def add(self, failed: bool) -> None:
        with self.lock:
            self.checkouts += 1
            self.failures += int(failed)

    def take(self) -> tuple[int, int]:
        with self.lock:
            taken = (self.checkouts, self.failures)
            self.checkouts = self.failures = 0
            return taken


def emf_line(service: str, second: int, checkouts: int, failures: int) -> str:
    """One embedded-metric-format event: the second's counts, with the service as dimension."""
    return json.dumps({
        "_aws": {"Timestamp": second * 1000, "CloudWatchMetrics": [{
            "Namespace": "Example/App", "Dimensions": [["ServiceName"]],
            "Metrics": [{"Name": "Checkouts", "Unit": "Count"}, {"Name": "CheckoutFailures", "Unit": "Count"}]}]},
        "ServiceName": service, "Checkouts": checkouts, "CheckoutFailures": failures,
    })


def publish_metrics(counts: Counts, service: str) -> None:
    """Each second, the past second's counts as an EMF line on stdout (nothing when idle)."""
    while True:
        time.sleep(1 - time.time() % 1)
        checkouts, failures = counts.take()
        if checkouts:
            sys.stdout.write(emf_line(service, int(time.time()) - 1, checkouts, failures) + "\n")  # one write: one line
            sys.stdout.flush()


def main() -> None:
    env = dict(os.environ)
    if env.get("CRASH_AT_START") == "1":
        print("crashing at start as asked (CRASH_AT_START=1)", file=sys.stderr)
        sys.exit(3)
    from werkzeug.serving import run_simple

    if env.get("CRASH_AFTER_SECONDS"):
        import threading

        def crash() -> None:
            print("crashing while serving, as asked (CRASH_AFTER_SECONDS)", file=sys.stderr, flush=True)
            os._exit(3)

        threading.Timer(float(env["CRASH_AFTER_SECONDS"]), crash).start()

    app = make_app(env)
    if env.get("ECS_SERVICE_NAME"):
        import threading

        threading.Thread(target=publish_metrics, args=(app.counts, env["ECS_SERVICE_NAME"]), daemon=True).start()
    run_simple(env.get("HOST", "127.0.0.1"), int(env.get("PORT", "8080")), app, threaded=True)


if __name__ == "__main__":
    main()
