"""ECS tasks as local processes of the example app, each on its own loopback address.

moto keys targets by IP alone, so two tasks on 127.0.0.1 would collapse into one target; every
task gets 127.s.x.y of its own, skipping addresses whose port something else already holds. The
second byte `s` comes from the sandbox's process id: two sandboxes on one machine (the test
suite's two lanes) start apart, so neither picks an address the other has chosen and whose task
has not bound its port yet. Children die with the sandbox (PR_SET_PDEATHSIG on Linux).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def loopback_addresses(second: int = 0):
    """127.s.0.2, 127.s.0.3, ... 127.s.0.254, 127.s.1.1, ... (never 127.0.0.1, nor a .0 or .255)."""
    for third in itertools.count(0):
        for fourth in range(2 if third % 256 == 0 else 1, 255):
            yield f"127.{second % 256}.{third % 256}.{fourth}"


def sandbox_addresses():
    return loopback_addresses(1 + os.getpid() % 254)


@dataclass
class Task:
    task_id: str
    service_key: str
    deployment_id: str
    task_definition: str
    ip: str
    port: int
    process: subprocess.Popen
    started_at: float
    target_group: str | None = None
    draining_until: float | None = None
    stopped: bool = False
    failed: bool = False
    record: object | None = None  # its moto ECS task (deployer.sandbox.moto_ext.ecs_tasks.SandboxTask)

    def alive(self) -> bool:
        return self.process.poll() is None

    def answers(self, timeout: float = 0.05) -> bool:
        """Its port accepts a connection: the container has started (loopback: refused at once if not)."""
        try:
            with socket.create_connection((self.ip, self.port), timeout=timeout):
                return True
        except OSError:
            return False


@dataclass
class TaskRunner:
    app: Path
    log_dir: Path
    _addresses: object = field(default_factory=sandbox_addresses)
    _ids: object = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, service_key: str, deployment_id: str, task_definition: str, port: int, env: dict[str, str]) -> Task:
        with self._lock:
            ip = self._free_address(port)
            task_id = f"{next(self._ids):06d}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"task-{task_id}.log", "ab")
        full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **env, "HOST": ip, "PORT": str(port)}
        process = subprocess.Popen([sys.executable, str(self.app)], env=full_env, stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent, close_fds=True)
        log.close()
        return Task(task_id, service_key, deployment_id, task_definition, ip, port, process, time.time())

    def _free_address(self, port: int, tries: int = 1000) -> str:
        for _ in range(tries):
            ip = next(self._addresses)
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the app's server does: only a listener blocks it
                try:
                    probe.bind((ip, port))
                    return ip
                except OSError:
                    continue  # taken by another process on this machine
        raise RuntimeError(f"no free loopback address for port {port} after {tries} tries")

    @staticmethod
    def stop(task: Task, timeout: float = 5.0) -> None:
        task.stopped = True
        if task.alive():
            task.process.terminate()
            try:
                task.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                task.process.kill()
                task.process.wait(timeout=timeout)
