"""A fault-injection reverse proxy between an AWS client (deployer, boto3) and an emulated endpoint.

It listens on 127.0.0.1 (a free port), forwards every request to the upstream endpoint (moto on
loopback: a non-loopback upstream is refused), names each call's service and operation, and applies
rules that make some calls fail the ways real AWS calls fail:

    throttle    answered at once in the protocol's own error format, not forwarded
                (JSON: 400 {"__type": "ThrottlingException"}; DynamoDB item calls:
                ProvisionedThroughputExceededException; query and Route53: <Code>Throttling</Code>;
                EC2: 503 RequestLimitExceeded; CloudWatch CBOR: Throttling)
    fail        503 ServiceUnavailable (or status=500: InternalFailure), not forwarded
    drop_before the connection is closed without an answer; the call never reached AWS
    drop_after  forwarded and processed, then the connection is closed without an answer:
                the ambiguous case (did it happen?) a client must survive
    stall       held `seconds` (bounded by MAX_STALL), then forwarded

A rule matches calls by service and/or operation (or any call) and fires on the Nth matching
calls (`nth`), or with probability `p` drawn from its own seeded RNG, optionally only once another
call has been seen `after` times, and at most `limit` times. The first rule that fires decides.

    proxy = FaultProxy(upstream, rules=[
        Rule.parse("throttle ecs:RegisterTaskDefinition #1"),        # the first matching call
        Rule.parse("fail dynamodb:PutItem #1-6 after elbv2:ModifyListener#2"),
        Rule.parse("drop_after ecs:UpdateService #1"),
        Rule.parse("stall elbv2:DescribeTargetHealth 30% 3s"),
        Rule.parse("throttle * 10%"),                                # a tenth of all calls
    ], seed=7).start()
    env = {"AWS_ENDPOINT_URL": proxy.url}
    ...
    proxy.stop(); proxy.summary()  # {"calls": 412, "faults": {"throttle": 40, ...}, "operations": {...}}

Rule text: `KIND MATCH [#N | #N-M | #N- | P%] [Ts] [after MATCH#N] [limit=N] [code=CODE] [status=N]`,
MATCH is `service:Operation`, `service:*`, `Operation` or `*`; services by client name or
signing name (elbv2 = elasticloadbalancing, cloudwatch = monitoring); operations in CamelCase
or snake_case.

Standalone: `python -m tests.harness.fault_proxy --upstream http://127.0.0.1:4566 --rule "throttle * 10%"`
prints the proxy's URL, runs until Ctrl-C, then prints the counts.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

KINDS = ("throttle", "fail", "drop_before", "drop_after", "stall")
MAX_STALL = 60.0  # seconds: a stall never holds a call longer
MAX_BODY = 16 * 1024 * 1024  # bytes: a bigger request is refused (413)
UPSTREAM_TIMEOUT = 90.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade", "content-length"})

# signing name (Authorization credential scope) or client name -> one name
SERVICE_ALIASES = {"elasticloadbalancing": "elbv2", "elbv2": "elbv2", "monitoring": "cloudwatch", "cloudwatch": "cloudwatch"}
# X-Amz-Target / CBOR prefixes -> service, for unsigned calls
TARGET_PREFIXES = {"AmazonEC2ContainerServiceV20141113": "ecs", "DynamoDB_20120810": "dynamodb",
                   "GraniteServiceVersion20100801": "cloudwatch", "Logs_20140328": "logs"}
DYNAMODB_ITEM_OPERATIONS = frozenset({"PutItem", "GetItem", "DeleteItem", "UpdateItem", "Query", "Scan", "BatchGetItem",
                                      "BatchWriteItem", "TransactGetItems", "TransactWriteItems"})
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def service_name(name: str) -> str:
    name = name.strip().lower()
    return SERVICE_ALIASES.get(name, name)


def _op_key(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


# ---------------------------------------------------------------------------------------------- calls
@dataclass(frozen=True)
class Call:
    """What one request is: service, operation, and the wire protocol its errors must use."""

    service: str
    operation: str
    protocol: str  # json | cbor | query | ec2 | rest-xml | rest-json
    json_version: str = "1.1"
    query_compatible: bool = False  # a former query service over JSON/CBOR (CloudWatch): errors carry x-amzn-query-error


@dataclass
class LoggedCall:
    at: float  # time.time() when it arrived
    service: str
    operation: str
    fault: str | None  # the kind injected, or None
    status: int | None  # the status answered (None: no answer, the connection was closed)
    seconds: float  # time spent in the proxy
    rule: int | None = None  # index of the rule that fired

    def to_dict(self) -> dict:
        return {"at": round(self.at, 3), "service": self.service, "operation": self.operation, "fault": self.fault,
                "status": self.status, "seconds": round(self.seconds, 3), "rule": self.rule}


_rest_routes: dict[str, list] = {}
_rest_lock = threading.Lock()


def _rest_operation(service: str, method: str, path: str) -> str | None:
    """REST services (Route53, ...): the operation whose method and URI template match, the most
    specific (most literal characters) first."""
    with _rest_lock:
        routes = _rest_routes.get(service)
        if routes is None:
            routes = []
            try:
                import botocore.session

                model = botocore.session.get_session().get_service_model(service)
                for name in model.operation_names:
                    http = model.operation_model(name).http
                    uri = http.get("requestUri", "/").split("?", 1)[0]
                    literal = len(re.sub(r"\{[^}]+\}", "", uri))
                    pattern = re.escape(uri.rstrip("/"))
                    pattern = re.sub(r"\\\{[^}]+?\\\+\\\}", ".+", pattern)  # {Key+}
                    pattern = re.sub(r"\\\{[^}]+?\\\}", "[^/]+", pattern)  # {Id}
                    routes.append((literal, http.get("method", "POST").upper(), re.compile(f"^{pattern}/?$"), name))
            except Exception:  # noqa: BLE001 - unknown service: fall back to method and path
                routes = []
            routes.sort(key=lambda r: -r[0])
            _rest_routes[service] = routes
    for _, route_method, pattern, name in routes:
        if route_method == method and pattern.match(path):
            return name
    return None


def identify(method: str, path: str, headers, body: bytes) -> Call:
    """Service and operation of a request, from its headers, body and path."""
    auth = headers.get("Authorization", "") or ""
    found = _CREDENTIAL.search(auth)
    service = service_name(found.group(1)) if found else ""
    url = urlsplit(path)
    target = headers.get("X-Amz-Target")
    content_type = (headers.get("Content-Type") or "").lower()
    query_mode = (headers.get("x-amzn-query-mode") or "").lower() == "true"
    if target:
        prefix, _, operation = target.rpartition(".")
        version = content_type.rsplit("-", 1)[-1] if "x-amz-json-" in content_type else "1.1"
        return Call(service or TARGET_PREFIXES.get(prefix, prefix.lower()), operation, "json", version, query_mode)
    parts = url.path.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "service" and parts[2] == "operation":  # smithy RPC v2 (CBOR)
        return Call(service or TARGET_PREFIXES.get(parts[1], parts[1].lower()), parts[3], "cbor", query_compatible=query_mode)
    form = {}
    if "x-www-form-urlencoded" in content_type and body:
        form = parse_qs(body.decode("utf-8", "replace"))
    query = parse_qs(url.query)
    action = (form.get("Action") or query.get("Action") or [None])[0]
    if action:
        return Call(service or "unknown", action, "ec2" if service == "ec2" else "query")
    if service:
        operation = _rest_operation(service, method, url.path)
        protocol = "rest-xml" if service in ("route53", "s3", "cloudfront") else "rest-json"
        return Call(service, operation or f"{method} {url.path}", protocol)
    return Call("unknown", f"{method} {url.path}", "rest-json")


# ---------------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Match:
    service: str | None = None  # None: any
    operation: str | None = None  # None: any

    @classmethod
    def parse(cls, text: str) -> "Match":
        text = text.strip()
        if text in ("*", "*:*", ""):
            return cls()
        if ":" in text:
            service, operation = text.split(":", 1)
            return cls(None if service == "*" else service_name(service), None if operation in ("*", "") else operation)
        return cls(None, text)

    def __call__(self, call: Call) -> bool:
        if self.service is not None and service_name(self.service) != call.service:
            return False
        return self.operation is None or _op_key(self.operation) == _op_key(call.operation)

    def __str__(self) -> str:
        return f"{self.service or '*'}:{self.operation or '*'}"


class Nth:
    """Which matching calls (1-based): `Nth(1)`, `Nth(3, 8)` (3rd to 8th), `Nth(5, None)` (5th on)."""

    def __init__(self, first: int, last: int | None | str = "same"):
        if first < 1:
            raise ValueError("calls are counted from 1")
        self.first = first
        self.last = first if last == "same" else last

    def __contains__(self, n: int) -> bool:
        return n >= self.first and (self.last is None or n <= self.last)

    def __str__(self) -> str:
        if self.last == self.first:
            return f"#{self.first}"
        return f"#{self.first}-" + ("" if self.last is None else str(self.last))


@dataclass
class Rule:
    kind: str
    match: Match = field(default_factory=Match)
    p: float = 0.0  # probability per matching call
    nth: Nth | None = None  # or: these matching calls
    seconds: float = 2.0  # stall
    after: tuple[Match, int] | None = None  # armed once that many calls of that match were seen
    limit: int | None = None  # fires at most this many times
    code: str | None = None  # error code override (throttle / fail)
    status: int | None = None  # status override (fail: 500 or 503)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not 0.0 <= self.p <= 1.0:
            raise ValueError("p is a probability, 0..1")
        if self.nth is None and self.p == 0.0:
            raise ValueError(f"rule {self.kind} {self.match}: give a probability or which calls (#N)")
        self.seconds = max(0.0, min(float(self.seconds), MAX_STALL))

    @classmethod
    def parse(cls, text: str) -> "Rule":
        """`KIND MATCH [#N|#N-M|#N-|P%] [Ts] [after MATCH#N] [limit=N] [code=X] [status=N]`."""
        tokens = text.split()
        if len(tokens) < 2:
            raise ValueError(f"rule {text!r}: expected KIND MATCH ...")
        kind, match = tokens[0], Match.parse(tokens[1])
        kwargs: dict = {}
        rest = iter(tokens[2:])
        for token in rest:
            if token == "after":
                trigger = next(rest, "")
                target, _, count = trigger.rpartition("#")
                if not target or not count.isdigit():
                    raise ValueError(f"rule {text!r}: expected `after service:Operation#N`")
                kwargs["after"] = (Match.parse(target), int(count))
            elif token.startswith("#"):
                first, dash, last = token[1:].partition("-")
                kwargs["nth"] = Nth(int(first), (int(last) if last else None) if dash else "same")
            elif token.endswith("%"):
                kwargs["p"] = float(token[:-1]) / 100
            elif re.fullmatch(r"\d+(\.\d+)?s", token):
                kwargs["seconds"] = float(token[:-1])
            elif "=" in token:
                key, value = token.split("=", 1)
                if key not in ("limit", "code", "status"):
                    raise ValueError(f"rule {text!r}: unknown option {key}")
                kwargs[key] = value if key == "code" else int(value)
            else:
                raise ValueError(f"rule {text!r}: cannot read {token!r}")
        return cls(kind, match, **kwargs)

    def __str__(self) -> str:
        parts = [self.kind, str(self.match)]
        if self.nth is not None:
            parts.append(str(self.nth))
        if self.p:
            parts.append(f"{self.p * 100:g}%")
        if self.kind == "stall":
            parts.append(f"{self.seconds:g}s")
        if self.after:
            parts.append(f"after {self.after[0]}#{self.after[1]}")
        for key in ("limit", "code", "status"):
            if getattr(self, key) is not None:
                parts.append(f"{key}={getattr(self, key)}")
        return " ".join(parts)


class _RuleState:
    def __init__(self, rule: Rule, rng: random.Random):
        self.rule = rule
        self.rng = rng
        self.seen = 0  # matching calls since armed
        self.triggers = 0  # calls of the `after` match seen
        self.fired = 0


# ---------------------------------------------------------------------------------------------- errors
def _cbor_text(value: str) -> bytes:
    data = value.encode()
    return _cbor_head(3, len(data)) + data


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 256:
        return bytes([major << 5 | 24, length])
    if length < 65536:
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")
    return bytes([major << 5 | 26]) + length.to_bytes(4, "big")


def cbor_map(data: dict[str, str]) -> bytes:
    """The few bytes of CBOR an error body needs: a map of text to text."""
    out = _cbor_head(5, len(data))
    for key, value in data.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def error_response(call: Call, kind: str, *, code: str | None = None, status: int | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a throttling or service error, as that protocol's AWS answers it."""
    request_id = str(uuid.uuid4())
    if kind == "throttle":
        if call.protocol == "ec2":
            status, code = status or 503, code or "RequestLimitExceeded"
        elif call.protocol in ("json", "rest-json") and not call.query_compatible:
            default = ("ProvisionedThroughputExceededException" if call.service == "dynamodb" and call.operation in DYNAMODB_ITEM_OPERATIONS
                       else "ThrottlingException")
            status, code = status or 400, code or default
        else:  # query, rest-xml, and query-compatible JSON/CBOR (CloudWatch): Throttling
            status, code = status or 400, code or "Throttling"
        message = "Rate exceeded"
        fault_type = "Sender"
    else:
        status = status or 503
        if code is None:
            if status == 503:
                code = "ServiceUnavailable"
            else:
                code = "InternalServerError" if call.service == "dynamodb" else "InternalFailure"
        message = "The service is unavailable. Please try again later." if status == 503 else "We encountered an internal error."
        fault_type = "Receiver"
    headers = {"x-amzn-RequestId": request_id}
    if call.query_compatible:
        headers["x-amzn-query-error"] = f"{code};{fault_type}"
    if call.protocol == "json":
        headers["Content-Type"] = f"application/x-amz-json-{call.json_version}"
        body = json.dumps({"__type": code, "message": message}).encode()
    elif call.protocol == "rest-json":
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"message": message}).encode()
    elif call.protocol == "cbor":
        headers["Content-Type"] = "application/cbor"
        headers["smithy-protocol"] = "rpc-v2-cbor"
        body = cbor_map({"__type": code, "message": message})
    elif call.protocol == "ec2":
        headers["Content-Type"] = "text/xml;charset=UTF-8"
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>").encode()
    else:  # query, rest-xml
        headers["Content-Type"] = "text/xml"
        namespace = ' xmlns="https://route53.amazonaws.com/doc/2013-04-01/"' if call.service == "route53" else ""
        body = (f"<?xml version=\"1.0\"?>\n<ErrorResponse{namespace}><Error><Type>{fault_type}</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    return status, headers, body


# ---------------------------------------------------------------------------------------------- server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects
    timeout = 120  # an idle keep-alive connection is closed after this long
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - the proxy keeps its own log
        return

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        proxy = self.server.proxy
        started = time.time()
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._answer(413, {"Content-Type": "text/plain"}, b"request too large for the fault proxy\n")
            return
        call = identify(self.command, self.path, self.headers, body)
        index, rule = proxy._decide(call)
        kind = rule.kind if rule else None
        answer: tuple[int, dict, bytes] | None = None
        if kind in ("throttle", "fail"):
            answer = error_response(call, kind, code=rule.code, status=rule.status)
        elif kind != "drop_before":
            if kind == "stall":
                proxy._stopping.wait(rule.seconds)
            answer = proxy._forward(self.command, self.path, self.headers, body)
            if kind == "drop_after":
                answer = None
        # logged before the client hears anything, so a caller reading the log after its call sees it
        proxy._log(LoggedCall(started, call.service, call.operation, kind, answer[0] if answer else None, time.time() - started, index))
        if answer is None:
            self.close_connection = True  # drop: no answer, the connection closes
            return
        self._answer(*answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, proxy: "FaultProxy", max_connections: int):
        self.proxy = proxy
        self.slots = threading.BoundedSemaphore(max_connections)
        self.open: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-answer (a drop, a timeout) is not the proxy's error

    def process_request(self, request, client_address):
        if not self.slots.acquire(timeout=30):  # bounded: past the limit, a new connection waits, then is refused
            self.shutdown_request(request)
            return
        with self.open_lock:
            self.open.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request) -> None:
        with self.open_lock:
            if request in self.open:
                self.open.discard(request)
                self.slots.release()

    def close_all(self) -> None:
        with self.open_lock:
            sockets = list(self.open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FaultProxy:
    """The proxy. `start()` binds 127.0.0.1 on a free port; `url` is what AWS_ENDPOINT_URL should be."""

    def __init__(self, upstream: str, rules: list[Rule | str] = (), *, seed: int | str = 0, max_connections: int = 64,
                 log_path=None):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream {upstream!r}: expected http://HOST:PORT")
        host = parts.hostname
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ValueError(f"upstream {upstream!r} is not on loopback: the fault proxy only fronts local emulators")
        self.upstream = (host, parts.port or 80)
        self.rules = [r if isinstance(r, Rule) else Rule.parse(r) for r in rules]
        self.seed = seed
        self._states = [_RuleState(r, random.Random(f"{seed}:{i}:{r}")) for i, r in enumerate(self.rules)]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._max_connections = max_connections
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.calls: list[LoggedCall] = []
        self._log_file = open(log_path, "a") if log_path else None

    # --- life cycle
    def start(self) -> "FaultProxy":
        if self._server is not None:
            return self
        self._server = _Server(self, self._max_connections)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, wait: float = 5.0) -> None:
        """Stop accepting, cut stalls short, close open connections, wait (bounded) for handlers."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        self._thread.join(timeout=wait)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._server.open_lock:
                if not self._server.open:
                    break
            time.sleep(0.02)
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- decisions and the log
    def _decide(self, call: Call) -> tuple[int | None, Rule | None]:
        chosen: tuple[int | None, Rule | None] = (None, None)
        with self._lock:
            for index, state in enumerate(self._states):
                rule = state.rule
                if rule.after is not None and state.triggers < rule.after[1]:
                    if rule.after[0](call):
                        state.triggers += 1  # armed from the next call on
                    continue
                if not rule.match(call):
                    continue
                state.seen += 1
                fires = (rule.nth is not None and state.seen in rule.nth)
                if rule.p:
                    fires = (state.rng.random() < rule.p) or fires
                if fires and (rule.limit is None or state.fired < rule.limit) and chosen[1] is None:
                    state.fired += 1
                    chosen = (index, rule)
        return chosen

    def _log(self, entry: LoggedCall) -> None:
        with self._lock:
            if len(self.calls) < 200_000:
                self.calls.append(entry)
            if self._log_file:
                self._log_file.write(json.dumps(entry.to_dict()) + "\n")
                self._log_file.flush()

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=UPSTREAM_TIMEOUT)
        try:
            out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            out["Host"] = f"{self.upstream[0]}:{self.upstream[1]}"
            out["Connection"] = "close"
            if body or method in ("POST", "PUT", "PATCH"):
                out["Content-Length"] = str(len(body))
            connection.request(method, path, body=body or None, headers=out)
            response = connection.getresponse()
            data = response.read()
            back = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            return response.status, back, data
        except (OSError, http.client.HTTPException) as exc:
            return 502, {"Content-Type": "text/plain"}, f"fault proxy: upstream unreachable: {exc}\n".encode()
        finally:
            connection.close()

    # --- numbers
    def log(self) -> list[LoggedCall]:
        with self._lock:
            return list(self.calls)

    def faults(self) -> list[LoggedCall]:
        return [c for c in self.log() if c.fault]

    def summary(self) -> dict:
        calls = self.log()
        operations: dict[str, Counter] = {}
        for c in calls:
            counter = operations.setdefault(f"{c.service}:{c.operation}", Counter())
            counter["calls"] += 1
            if c.fault:
                counter[c.fault] += 1
        return {
            "calls": len(calls),
            "faults": dict(Counter(c.fault for c in calls if c.fault)),
            "rules": {str(s.rule): s.fired for s in self._states},
            "operations": {k: dict(v) for k, v in sorted(operations.items())},
        }


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.harness.fault_proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the emulator")
    parser.add_argument("--rule", action="append", default=[], help="a rule, e.g. 'throttle * 10%%' (repeatable)")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--log", help="append one JSON line per call to this file")
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, args.rule, seed=args.seed, log_path=args.log).start()
    print(proxy.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        print(json.dumps({k: v for k, v in proxy.summary().items() if k != "operations"}, indent=2))


if __name__ == "__main__":
    main()
