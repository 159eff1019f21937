"""The sandbox's front door: an HTTP forward proxy that reaches the listener proxies by ALB DNS name.

AWS: a client (or a forward proxy inside the VPC, `DEPLOYER_HTTP_PROXY`) reaches a listener at
`http://<ALB DNSName>:<port>/`. In the sandbox those names resolve nowhere, so the front door
takes absolute-URI requests and forwards them to the loopback proxy of that name and port;
anything it does not know gets 502 and is never connected to.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deployer.sandbox.control import Sandbox
from deployer.sandbox.front_door import FrontDoor

DNS = "web-123.us-east-1.elb.amazonaws.com"


class Echo(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"path": self.path, "host": self.headers["Host"], "proxy": self.headers.get("Proxy-Connection")}).encode()
        self.send_response(200)
        self.send_header("X-App-Version", "9")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def door():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    front = FrontDoor(lambda: {(DNS, 8080): upstream.server_address[1]})
    front.start()
    yield front, upstream.server_address[1]
    front.stop()
    upstream.shutdown()


def fetch(front: FrontDoor, url: str) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": front.url}))
    try:
        with opener.open(url, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_forwards_by_load_balancer_name_and_port(door):
    front, _ = door
    status, headers, body = fetch(front, f"http://{DNS.upper()}:8080/health?deep=1")
    assert status == 200 and headers["X-App-Version"] == "9"
    assert json.loads(body) == {"path": "/health?deep=1", "host": f"{DNS.upper()}:8080", "proxy": None}


@pytest.mark.parametrize("url", [f"http://{DNS}:8081/health", f"http://{DNS}/health", "http://example.com:8080/",
                                 "http://127.0.0.1:{upstream}/health"])
def test_anything_else_is_502_and_not_connected_to(door, url):
    front, upstream = door
    status, _, body = fetch(front, url.format(upstream=upstream))
    assert status == 502 and body.count(b"\n") == 1 and body.startswith(b"front door: ")


def test_origin_form_and_connect_are_502(door):
    front, _ = door
    for request in (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", f"CONNECT {DNS}:443 HTTP/1.1\r\nHost: {DNS}:443\r\n\r\n".encode()):
        with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s:
            s.sendall(request)
            assert s.recv(4096).split(b"\r\n", 1)[0].split(b" ")[1] == b"502"


def test_sandbox_env_names_the_front_door(tmp_path):
    state = {"endpoint": "http://127.0.0.1:4566", "region": "us-east-1", "front_door": "http://127.0.0.1:4999"}
    assert Sandbox(tmp_path, state).env()["DEPLOYER_HTTP_PROXY"] == "http://127.0.0.1:4999"
    older = {k: v for k, v in state.items() if k != "front_door"}
    assert "DEPLOYER_HTTP_PROXY" not in Sandbox(tmp_path, older).env()
