"""The sandbox's process bookkeeping: `down` must see a stopped sandbox as stopped at once."""

from __future__ import annotations

import subprocess
import sys
import time

from deployer.sandbox.control import _alive


def test_an_exited_child_is_not_alive_even_before_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited, not yet reaped: a zombie that signal 0 still reaches
    assert not _alive(child.pid)


def test_a_running_process_is_alive():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert _alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not _alive(child.pid)
