"""Slow clients cannot starve the receiver: 300 connections that send their headers a byte at a
time (loopback only; sources are other addresses of 127.0.0.0/8) while /healthz and a signed
delivery, each on a new connection from 127.0.0.1, must answer within 1 s."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest

from deployer.ci import signatures
from deployer.ci.hooks_config import HooksConfig
from deployer.ci.webhook import Receiver, Store
from tests.functional.test_webhook import SECRET, Runner, serving, tag_push

SLOW = 300
REQUEST_TIMEOUT = 3  # seconds: short here so that the test sees the deadline close them
PER_CLIENT = 16


@pytest.fixture
def receiver_and_config(tmp_path):
    config = HooksConfig.model_validate({
        "request_timeout": REQUEST_TIMEOUT, "max_connections_per_client": PER_CLIENT,
        "releases": [{"service": "web", "repository": "acme/web", "image": "registry/web:{tag}", "tag_pattern": r"^v\d+\.\d+\.\d+$"}],
    })
    runner = Runner(seconds=0)
    return Receiver(config, SECRET, runner, Store(tmp_path / "releases.json"), callback=lambda *a: None), config, runner


class SlowClients:
    """`count` connections from `sources`, each sending a request line then one header byte every
    0.1 s, never finishing; a background thread, stopped on exit and after 20 s in any case."""

    def __init__(self, port: int, sources: list[str], count: int = SLOW):
        self.port, self.sources, self.count = port, sources, count
        self.sockets: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.dribble, daemon=True)

    def __enter__(self):
        for i in range(self.count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.sources[i % len(self.sources)], 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", self.port))
            sock.setblocking(False)
            self.sockets.append(sock)
            self.send(sock, b"POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()

    @staticmethod
    def send(sock, data: bytes) -> None:
        try:
            sock.send(data)
        except OSError:
            pass  # closed (or refused) by the server; `open_ones` tells

    def dribble(self):
        ends = time.monotonic() + 20
        while not self.stop.wait(0.1) and time.monotonic() < ends:
            for sock in self.sockets:
                self.send(sock, b"a")

    def open_ones(self) -> int:
        """How many the server still holds open (a closed one reads as EOF or a reset)."""
        held = 0
        for sock in self.sockets:
            try:
                while True:
                    data = sock.recv(4096)
                    if not data:
                        break
            except BlockingIOError:
                held += 1
            except OSError:
                pass
        return held


def timed(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, seconds, body) of one request on a new connection from 127.0.0.1."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, time.monotonic() - started, data
    finally:
        conn.close()


def valid_delivery(port: int, n: int):
    body = json.dumps(tag_push(f"v1.0.{n}")).encode()
    return timed(port, "POST", "/hooks/github", body, {
        "X-GitHub-Event": "push", "X-GitHub-Delivery": f"slow-{n}", "Content-Type": "application/json",
        "X-Hub-Signature-256": signatures.hub_signature(SECRET, body)})


def held_by(srv, prefix: str = "127.0.0.") -> int:
    return sum(1 for channel in list(srv.active_channels.values())
               if channel.addr and channel.addr[0].startswith(prefix) and channel.addr[0] != "127.0.0.1")


def answers_meanwhile(port: int, rounds: int = 3) -> list[float]:
    """/healthz and a signed delivery, `rounds` times: each answered within 1 s; the latencies."""
    latencies = []
    for n in range(rounds):
        status, seconds, _ = timed(port, "GET", "/healthz")
        assert status == 200 and seconds < 1.0, (status, seconds)
        latencies.append(seconds)
        status, seconds, data = valid_delivery(port, n)
        assert status == 202 and seconds < 1.0, (status, seconds, data)
        latencies.append(seconds)
        time.sleep(0.2)
    return latencies


def test_300_slow_connections_from_many_addresses_do_not_starve_it_and_meet_the_deadline(receiver_and_config):
    receiver, config, runner = receiver_and_config
    sources = [f"127.0.0.{i}" for i in range(2, 32)]  # 30 addresses, 10 connections each: under the per-client cap
    with serving(receiver, config) as srv, SlowClients(int(srv.effective_port), sources) as slow:
        opened = time.monotonic()
        deadline = opened + 2
        while held_by(srv) < SLOW and time.monotonic() < deadline:
            time.sleep(0.05)
        assert held_by(srv) == SLOW  # all held: more than waitress's old connection_limit of 256
        latencies = answers_meanwhile(int(srv.effective_port))
        assert time.monotonic() - opened < REQUEST_TIMEOUT  # measured while all 300 were still open
        print(f"300 slow connections held: /healthz and delivery answered in {max(latencies) * 1000:.0f} ms at most")
        # still sending a byte every 0.1 s, yet closed: no whole request within REQUEST_TIMEOUT
        deadline = opened + REQUEST_TIMEOUT + 3
        while slow.open_ones() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert slow.open_ones() == 0 and held_by(srv) == 0
        closed_after = time.monotonic() - opened
        assert closed_after > REQUEST_TIMEOUT - 0.5
        assert timed(int(srv.effective_port), "GET", "/healthz")[0] == 200
    assert len(receiver.store.jobs) == 3  # the three signed deliveries, nothing else


def test_one_address_holds_at_most_its_share(receiver_and_config, caplog):
    receiver, config, runner = receiver_and_config
    caplog.set_level(logging.INFO, "deployer.webhook")
    with serving(receiver, config) as srv, SlowClients(int(srv.effective_port), ["127.0.0.2"]) as slow:
        time.sleep(0.5)
        assert held_by(srv) <= PER_CLIENT
        latencies = answers_meanwhile(int(srv.effective_port))
        print(f"300 slow connections from one address: {held_by(srv)} held, answered in {max(latencies) * 1000:.0f} ms at most")
        assert held_by(srv) <= PER_CLIENT and slow.open_ones() <= PER_CLIENT
    assert f"client 127.0.0.2 already holds {PER_CLIENT} (max_connections_per_client)" in caplog.text
    assert len(receiver.store.jobs) == 3


def test_an_idle_connection_after_a_request_is_kept_for_the_idle_timeout(receiver_and_config):
    """The request deadline does not cut a keep-alive connection between requests (an ALB's)."""
    receiver, config, runner = receiver_and_config
    with serving(receiver, config) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", int(srv.effective_port), timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().read()
        time.sleep(REQUEST_TIMEOUT + 1.5)
        conn.request("GET", "/healthz")  # the same connection, past the request deadline
        assert conn.getresponse().status == 200
        conn.close()
