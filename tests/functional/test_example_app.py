"""The example app the sandbox runs as tasks: version, health and injected faults."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import EXAMPLES
from tests.functional.conftest import free_port

APP = str(EXAMPLES / "app" / "app.py")


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def start_app():
    procs = []

    def start(**env):
        port = free_port()
        proc = subprocess.Popen([sys.executable, APP], env={"PORT": str(port), "HOST": "127.0.0.1", **{k: str(v) for k, v in env.items()}},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
        return base, proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_reports_version_and_health(start_app):
    base, _ = start_app(APP_VERSION="7", APP_NAME="web")
    assert get(base + "/") == (200, {"app": "web", "version": "7"})
    assert get(base + "/health") == (200, {"status": "ok", "version": "7"})


def test_injected_errors_and_failing_health(start_app):
    base, _ = start_app(ERROR_RATE="1", FAIL_HEALTH="1")
    assert get(base + "/")[0] == 500
    assert get(base + "/health")[0] == 503


def test_error_rate_is_a_fraction(start_app):
    base, _ = start_app(ERROR_RATE="0.3", SEED="1")
    codes = [get(base + "/")[0] for _ in range(200)]
    assert 0.2 < codes.count(500) / len(codes) < 0.4


def test_added_latency(start_app):
    base, _ = start_app(EXTRA_LATENCY_MS="200")
    started = time.monotonic()
    get(base + "/")
    assert time.monotonic() - started >= 0.2


def test_crash_at_start(start_app):
    _, proc = start_app(CRASH_AT_START="1")
    assert proc.wait(timeout=10) == 3


def test_every_answer_names_its_version_in_a_header(start_app):
    """Traffic counters read the version from `X-App-Version`, on successes and on errors alike."""
    base, _ = start_app(APP_VERSION="7", ERROR_RATE="1")
    for path, status in (("/", 500), ("/health", 200), ("/nope", 404)):
        try:
            with urllib.request.urlopen(base + path, timeout=5) as r:
                got, headers = r.status, r.headers
        except urllib.error.HTTPError as e:
            got, headers = e.code, e.headers
        assert (got, headers["X-App-Version"]) == (status, "7")
