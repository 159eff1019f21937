"""The sandbox's front door: an HTTP forward proxy on loopback that reaches its load balancers by name.

On AWS a client reaches a listener at `http://<ALB DNSName>:<port>/...`; a test listener is often
reachable only from inside the VPC, so a team points its pre-traffic checks at an HTTP forward
proxy there (`DEPLOYER_HTTP_PROXY`). In the sandbox the ALB DNS names moto invents
(`*.elb.amazonaws.com`) resolve nowhere and each listener is a proxy on 127.0.0.1 at a port of
its own, so the sandbox's front door plays that forward proxy: it takes absolute-URI requests
(`GET http://web-123.us-east-1.elb.amazonaws.com:8080/health HTTP/1.1`) and forwards them to the
listener proxy serving that DNS name and port. It never resolves the requested host and never
connects anywhere but the loopback listener proxies it knows; anything else (an unknown name or
port, a non-http scheme, CONNECT, an origin-form request) gets 502 with a one-line body.
Bounded: at most MAX_CONCURRENT requests at a time (more get 503), bodies up to MAX_BODY bytes
(413), socket timeouts on both sides.
"""

from __future__ import annotations

import http.client
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

log = logging.getLogger("deployer.sandbox.front_door")

MAX_CONCURRENT = 64
MAX_BODY = 1 << 20
TIMEOUT = 15.0
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}

Routes = Callable[[], dict[tuple[str, int], int]]  # (DNS name lower-case, listener port) -> local proxy port


def route_key(host: str, port: int) -> tuple[str, int]:
    return host.lower().rstrip("."), int(port)


class FrontDoor:
    def __init__(self, routes: Routes, port: int = 0):
        self.routes = routes
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        door = self

        class Handler(BaseHTTPRequestHandler):
            timeout = TIMEOUT
            server_version = "deployer-sandbox-front-door"

            def do_CONNECT(self):  # noqa: N802 - http.server's naming
                self._answer(502, "front door: CONNECT (https) is not supported; the sandbox's listeners speak http")

            def _forward(self):
                if not door.slots.acquire(blocking=False):
                    self._answer(503, "front door: too many requests at once")
                    return
                try:
                    door.forward(self)
                finally:
                    door.slots.release()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward  # noqa: N815

            def _answer(self, status: int, text: str) -> None:
                body = (text + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - http.server's signature
                log.debug("%s %s", self.address_string(), format % args)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="front-door", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, request: BaseHTTPRequestHandler) -> None:
        answer = request._answer  # type: ignore[attr-defined]
        url = urlsplit(request.path)
        if url.scheme != "http" or not url.hostname:
            answer(502, "front door: expected an absolute http:// URI (use this address as an HTTP proxy)")
            return
        try:
            key = route_key(url.hostname, url.port or 80)
        except ValueError:
            answer(502, "front door: bad port")
            return
        local = self.routes().get(key)
        if local is None:
            answer(502, f"front door: no load balancer listener {key[0]}:{key[1]} in the sandbox")
            return
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY or length < 0:
            answer(413, f"front door: body above {MAX_BODY} bytes")
            return
        body = request.rfile.read(length) if length else None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = url.netloc.rsplit("@", 1)[-1]
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", local, timeout=TIMEOUT)
            connection.request(request.command, path, body=body, headers=headers)
            upstream = connection.getresponse()
            data = upstream.read()
            status, reason = upstream.status, upstream.reason
            out = [(k, v) for k, v in upstream.getheaders() if k.lower() not in HOP_BY_HOP]
            connection.close()
        except OSError:
            answer(502, f"front door: listener {key[0]}:{key[1]} did not answer")
            return
        request.send_response_only(status, reason)  # the listener's own Date and Server pass through
        for k, v in out:
            request.send_header(k, v)
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Connection", "close")
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
