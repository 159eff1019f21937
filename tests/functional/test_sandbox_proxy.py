"""The listener proxy: a weight change the API shows is in effect before a request is refused.

AWS: once ModifyListener has moved a target group's weight to 0, no new request goes there, and
its deregistering targets only finish what they already have; a rollback (weights back, then the
idle color scaled to 0) refuses nothing. The proxy reads weights every 200 ms, so here a draw
made with stale weights that lands on a group with no healthy target re-reads them and draws again.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from deployer.sandbox.target_health import TargetHealth
from deployer.sandbox.proxy import ListenerProxy, Recorder
from tests.functional.conftest import free_port

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2"
TG = {c: f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-{c}/{i}" for i, c in enumerate(("blue", "green"))}


def upstream(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("X-App-Version", name)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def forward(weights: dict[str, int]) -> list[dict]:
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG[c], "Weight": w} for c, w in weights.items()]}}]


@pytest.fixture
def setup():
    servers = {c: upstream(c) for c in TG}
    listener = SimpleNamespace(port=80, default_actions=forward({"blue": 50, "green": 50}))
    lb = SimpleNamespace(arn=LB, dns_name="web-1.us-east-1.elb.amazonaws.com", listeners={LISTENER: listener})
    groups = {c: SimpleNamespace(targets={"127.0.0.1": {"Id": "127.0.0.1", "Port": servers[c].server_address[1]}}) for c in TG}
    backend = SimpleNamespace(load_balancers={LB: lb}, target_groups={TG[c]: g for c, g in groups.items()})
    health = TargetHealth()
    for c in TG:
        health.set(TG[c], "127.0.0.1", "healthy")
    events: list[str] = []
    proxy = ListenerProxy(LISTENER, lb, free_port(), backend, Recorder(), events.append, health)
    proxy.start()
    yield proxy, listener, events
    proxy.stop()
    for c in TG:
        servers[c].shutdown()


def get(proxy: ListenerProxy) -> tuple[int, str | None]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/", timeout=5) as r:
            return r.status, r.headers["X-App-Version"]
    except urllib.error.HTTPError as e:
        return e.code, None


def test_stale_weights_never_send_a_request_to_a_drained_group(setup):
    proxy, listener, events = setup
    assert {get(proxy)[1] for _ in range(40)} == {"blue", "green"}
    # ModifyListener to 100/0, then the green targets drain, all before the proxy's next 200 ms read
    listener.default_actions = forward({"blue": 100, "green": 0})
    proxy.target_health.set(TG["green"], "127.0.0.1", "draining", "Target.DeregistrationInProgress")
    assert [get(proxy) for _ in range(40)] == [(200, "blue")] * 40
    assert events[-1].endswith("=100, web-green=0")  # the re-read is logged like any weight change


def test_a_group_with_no_healthy_target_is_still_503(setup):
    proxy, listener, _ = setup
    listener.default_actions = forward({"blue": 0, "green": 100})
    proxy.refresh()
    proxy.target_health.set(TG["green"], "127.0.0.1", "draining", "Target.DeregistrationInProgress")
    assert get(proxy) == (503, None)


def test_a_redirect_listener_answers_every_request_with_the_alb_redirect(setup):
    """AWS: an HTTP listener whose default action is `redirect` to HTTPS answers 301 with the Location
    built from #{host}, #{path} and #{query}; it forwards nothing and is no route for traffic."""
    proxy, listener, events = setup
    listener.default_actions = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]
    proxy.refresh()
    assert proxy.describe()["redirects"] is True

    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(f"http://127.0.0.1:{proxy.port}/orders/7?expand=1", headers={"Host": "web-1.us-east-1.elb.amazonaws.com"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.build_opener(NoFollow).open(request, timeout=5)
    assert info.value.code == 301
    assert info.value.headers["Location"] == "https://web-1.us-east-1.elb.amazonaws.com/orders/7?expand=1"
    assert proxy.recorder.take_before(float("inf")) == []  # nothing proxied, nothing counted


def test_a_listener_rule_routes_before_the_default_action_and_its_weights_move_traffic(setup):
    """AWS: rules are evaluated by priority before the default action; ECS native deployments move
    traffic by changing the weights of a rule's forward action (the production listener rule)."""
    proxy, listener, events = setup
    rule = SimpleNamespace(priority="10", conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
                           actions=forward({"blue": 100, "green": 0}))
    listener.default_actions = forward({"blue": 0, "green": 100})  # never reached: the rule matches every path
    listener._non_default_rules = {"rule": rule}
    proxy.refresh()
    assert [get(proxy) for _ in range(20)] == [(200, "blue")] * 20
    rule.actions = forward({"blue": 0, "green": 100})  # ModifyRule: production traffic to the new color
    proxy.refresh()
    assert [get(proxy) for _ in range(20)] == [(200, "green")] * 20
    assert events[-1] == f"listener :{proxy.port} weights rule 10: web-blue=0, web-green=100; default: web-blue=0, web-green=100"


def test_a_burst_waits_in_the_accept_queue_while_the_proxy_is_busy():
    """An ALB absorbs a burst. The sandbox's proxy shares its process (and 2 cores) with moto and the
    ECS controller, so it can stall for seconds; its listen queue then holds the connections until
    it accepts them. With werkzeug's 128, the kernel dropped the 130th connection attempt of a stall
    and clients saw connect timeouts. Here the proxy does not accept at all while 400 clients connect."""
    lb = SimpleNamespace(arn=LB, dns_name="web-1.us-east-1.elb.amazonaws.com",
                         listeners={LISTENER: SimpleNamespace(port=80, default_actions=forward({"blue": 100}))})
    backend = SimpleNamespace(load_balancers={LB: lb}, target_groups={})
    proxy = ListenerProxy(LISTENER, lb, free_port(), backend, Recorder(), lambda line: None, TargetHealth())  # not started
    clients: list[socket.socket] = []
    try:
        for _ in range(400):
            client = socket.socket()
            clients.append(client)
            client.settimeout(1.0)
            client.connect(("127.0.0.1", proxy.port))  # a dropped attempt times out here
    finally:
        for client in clients:
            client.close()
        proxy.server.server_close()
    assert len(clients) == 400
