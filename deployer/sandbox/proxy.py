"""The ALB data plane: one local HTTP proxy per listener, routing by the listener's rules and weights.

Routes are read back from the emulated ELBv2 every 200 ms: the listener's rules by priority, then
its default action (deployer.sandbox.routing). A request goes to the first route it matches, to a
target group drawn by weight, then round-robin to one of its healthy targets (503 when there is none).
Every proxied request is counted per target group for the metrics feeder; every change of
weights is logged with its time, so tests can see when traffic really moved.

Listener changes before deregistrations. On AWS, once ModifyListener has moved a target group's
weight to 0 no new request goes to it, and a target that then deregisters (ECS stopping its
task) only finishes the requests it already has, during the deregistration delay: a rollback
(weights back to the stable color, read back, then the idle color scaled to 0) refuses nothing.
The sandbox's ECS controller can start draining within 250 ms of the scale-down, sooner than this
proxy's next 200 ms read of the weights, which used to answer 503 to requests still drawn for
the old weights. So when a draw lands on a target group without a healthy target, the proxy
re-reads the listener at once and draws again: a listener change the API already shows is in
effect before any request is refused for want of a target. It does not send new requests to
draining targets (AWS does not either); with the weights read afresh and still no healthy
target in the drawn group, the answer is 503, as before.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass, field

from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wrappers import Request, Response

from deployer.sandbox.routing import Route, listener_routes, route_for, unemulated
from deployer.sandbox.target_health import TargetHealth


log = logging.getLogger("deployer.sandbox.proxy")
LISTEN_BACKLOG = 1024  # connections the kernel holds while the proxy is busy (werkzeug's 128 dropped bursts)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade", "host", "content-length"}


class _ProxyServer(ThreadedWSGIServer):
    """werkzeug's threaded server with a longer accept queue. An ALB absorbs a burst; with 128, a
    stall of the sandbox's process (2 busy cores) for 2-3 s under 300 rps dropped connection
    attempts, which clients saw as connect timeouts, not as anything an ALB would answer."""

    request_queue_size = LISTEN_BACKLOG


@dataclass
class Sample:
    target_group: str
    load_balancer: str
    status: int
    seconds: float
    at: float
    connection_error: bool = False  # no connection to the target: the ALB's 502, TargetConnectionErrorCount
    dropped: bool = False  # connected, then closed without an answer: the ALB's 502, in no target metric but RequestCount

    @property
    def answered(self) -> bool:
        return not (self.connection_error or self.dropped)


@dataclass
class Recorder:
    """Samples of proxied requests, taken by the metrics feeder."""

    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def take_before(self, cutoff: float) -> list[Sample]:
        with self.lock:
            taken = [s for s in self.samples if s.at < cutoff]
            self.samples = [s for s in self.samples if s.at >= cutoff]
        return taken


def redirect_config(listener) -> dict | None:
    """The listener's default redirect action (an HTTP listener that sends clients to HTTPS), if any."""
    for action in listener.default_actions:
        data = getattr(action, "data", action)
        if data.get("Type") == "redirect":
            return data.get("RedirectConfig") or {}
    return None


def redirect_location(config: dict, host: str, port: int, path: str, query: str) -> str:
    """The Location an ALB answers with: `#{host}`, `#{port}`, `#{path}`, `#{query}` kept unless overridden."""
    values = {"protocol": "http", "host": host, "port": str(port), "path": path, "query": query}
    parts = {k: str(config.get(k.capitalize(), f"#{{{k}}}")) for k in values}
    for key, value in parts.items():
        for name, original in values.items():
            value = value.replace(f"#{{{name}}}", original)
        parts[key] = value
    scheme = parts["protocol"].lower()
    default_port = {"http": "80", "https": "443"}.get(scheme)
    netloc = parts["host"] if parts["port"] == default_port else f"{parts['host']}:{parts['port']}"
    return f"{scheme}://{netloc}{parts['path']}" + (f"?{parts['query']}" if parts["query"] else "")


class ListenerProxy:
    def __init__(self, listener_arn: str, load_balancer, port: int, elbv2_backend, recorder: Recorder, event_log,
                 target_health: TargetHealth):
        self.listener_arn = listener_arn
        self.load_balancer_arn = load_balancer.arn
        self.load_balancer = load_balancer.arn.split(":loadbalancer/")[-1]  # the metric dimension
        self.dns_name = load_balancer.dns_name
        self.listener_port = int(load_balancer.listeners[listener_arn].port)
        self.port = port
        self.backend = elbv2_backend
        self.recorder = recorder
        self.target_health = target_health  # routes only to healthy targets, as an ALB does
        self.event_log = event_log
        self.routes: tuple[Route, ...] = ()  # the listener's rules by priority, then its default action
        self.redirect: dict | None = None
        self._round_robin: dict[str, itertools.count] = {}
        self._random = random.Random()
        self._refresh_lock = threading.Lock()
        try:
            self.server = _ProxyServer("127.0.0.1", port, self._app)
        except SystemExit:  # werkzeug exits when the port is taken; let the caller try another one
            raise OSError(f"port {port} is in use") from None
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"proxy-{port}", daemon=True)

    def start(self) -> None:
        self.refresh()
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()

    def describe(self) -> dict:
        return {"port": self.port, "load_balancer_arn": self.load_balancer_arn, "dns_name": self.dns_name,
                "listener_port": self.listener_port, "redirects": self.redirect is not None}

    def refresh(self) -> bool:
        """Read the listener's rules and weights back; True when they changed (the change is logged)."""
        with self._refresh_lock:
            listener = self._listener()
            self.redirect = redirect_config(listener) if listener else None
            routes = listener_routes(listener) if listener else ()
            if routes == self.routes:
                return False
            self.routes = routes
            if len(routes) == 1:  # the default action only: the line the proxy log has always had
                shown = ", ".join(f"{arn.rsplit('/', 2)[-2]}={w}" for arn, w in routes[0].groups)
                self.event_log(f"listener :{self.port} weights {shown}")
            else:
                self.event_log(f"listener :{self.port} weights " + "; ".join(r.describe() for r in routes))
                for rule in unemulated(routes):
                    self.event_log(f"listener :{self.port} {rule}: a condition the sandbox does not evaluate; never matches")
            return True

    def _listener(self):
        lb = self.backend.load_balancers.get(self.load_balancer_arn)
        return lb.listeners.get(self.listener_arn) if lb else None

    def _pick_target(self, host: str, path: str) -> tuple[str, str, int] | None:
        routes = self.routes
        picked = self._draw(route_for(routes, host, path))
        if picked is None or not picked[1]:
            self.refresh()
            if self.routes != routes:  # the weights moved since that draw: draw again with them
                picked = self._draw(route_for(self.routes, host, path))
        return picked

    def _draw(self, routes: tuple[tuple[str, int], ...]) -> tuple[str, str, int] | None:
        routes = [(arn, w) for arn, w in routes if w > 0]
        if not routes:
            return None
        group_arn = self._random.choices([a for a, _ in routes], weights=[w for _, w in routes])[0]
        group = self.backend.target_groups.get(group_arn)
        if group is None:
            return None
        healthy = [t for t in list(group.targets.values()) if self.target_health.is_healthy(group_arn, t["Id"])]
        if not healthy:
            return (group_arn, "", 0)
        counter = self._round_robin.setdefault(group_arn, itertools.count())
        target = healthy[next(counter) % len(healthy)]
        return group_arn, target["Id"], int(target["Port"])

    @Request.application
    def _app(self, request: Request) -> Response:
        if self.redirect is not None:
            host = (request.host or self.dns_name).rsplit(":", 1)[0]
            query = request.query_string.decode("latin-1")
            location = redirect_location(self.redirect, host, self.listener_port, request.path, query)
            status = 302 if self.redirect.get("StatusCode") == "HTTP_302" else 301
            return Response(status=status, headers={"Location": location})
        picked = self._pick_target((request.host or self.dns_name).rsplit(":", 1)[0], request.path)
        if picked is None or not picked[1]:
            return Response("503 Service Unavailable: no healthy target\n", status=503)
        group_arn, ip, port = picked
        started = time.monotonic()
        connection = http.client.HTTPConnection(ip, port, timeout=10)
        try:
            connection.connect()
        except OSError:  # refused, or no route: as the ALB, a connection error of the target group
            self.recorder.add(Sample(group_arn, self.load_balancer, 502, time.monotonic() - started, time.time(), True))
            return Response("502 Bad Gateway\n", status=502)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            path = request.full_path.rstrip("?") if request.query_string else request.path
            connection.request(request.method, path, body=request.get_data() or None, headers=headers)
            upstream = connection.getresponse()
            body = upstream.read()
            status = upstream.status
            out_headers = [(k, v) for k, v in upstream.getheaders() if k.lower() not in HOP_BY_HOP]
        except (OSError, http.client.HTTPException):  # reset or closed mid-request, or a reply cut short
            self.recorder.add(Sample(group_arn, self.load_balancer, 502, time.monotonic() - started, time.time(), dropped=True))
            return Response("502 Bad Gateway\n", status=502)
        finally:
            connection.close()
        elapsed = time.monotonic() - started
        self.recorder.add(Sample(group_arn, self.load_balancer, status, elapsed, time.time()))
        return Response(body, status=status, headers=out_headers)
