"""A bounded traffic generator on loopback: `rps` requests a second for `duration` seconds.

It reaches a service the way its clients would: through its ALB listener's proxy, or, for DNS
blue/green, through the ALB its Route53 weighted records point to (weights re-read every second).
Answers are counted per status and per (version, status class), the version read from the
example app's `X-App-Version` header, so a test can say which version answered what.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import urllib3

from deployer.sandbox.control import Sandbox
from deployer.synth import names


VERSION_HEADER = "X-App-Version"
MAX_VERSIONS = 32       # distinct versions counted one by one; more are counted as "other"
MAX_VERSION_CHARS = 40  # a longer header value is cut (the counter stays small whatever tasks answer)
NO_VERSION = "-"        # the answer named no version: the load balancer's own 502/503, or no answer at all


def status_class(status: int) -> str:
    """200 -> "2xx"; no answer at all (599 here) -> "none"."""
    return f"{status // 100}xx" if 100 <= status < 599 else "none"


@dataclass
class TrafficResult:
    """What the traffic saw. `statuses`: HTTP status -> count (599: no answer). `responses`:
    (version, status class) -> count, the version from the `X-App-Version` header (NO_VERSION
    when there was none); `versions`: version -> 2xx answers."""

    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)
    responses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # no answer: the client's error, by kind

    def add(self, status: int, version: str | None) -> None:
        """Count one answer (the caller holds the lock, if any). Bounded: at most MAX_VERSIONS keys a class."""
        version = (version or NO_VERSION)[:MAX_VERSION_CHARS]
        seen = {v for v, _ in self.responses}
        if version not in seen and len(seen) >= MAX_VERSIONS:
            version = "other"
        kind = status_class(status)
        self.statuses[status] += 1
        self.responses[(version, kind)] += 1
        if kind == "2xx" and version != NO_VERSION:
            self.versions[version] += 1

    def count(self, version: str | None = None, status_class: str | None = None) -> int:
        """Answers of `version` (any if None) in `status_class` ("2xx", "5xx", "none"...; any if None)."""
        return sum(n for (v, c), n in self.responses.items()
                   if (version is None or v == version) and (status_class is None or c == status_class))

    def versions_seen(self, status_class: str | None = None) -> set[str]:
        """Versions that answered (in `status_class`), without NO_VERSION."""
        return {v for (v, c), n in self.responses.items() if n and v != NO_VERSION and (status_class is None or c == status_class)}

    def line(self) -> str:
        if not self.sent:
            return "0 requests"
        errors = sum(n for s, n in self.statuses.items() if s >= 500)
        parts = []
        for version in sorted(self.versions_seen()):
            fives = self.count(version, "5xx")
            parts.append(f"v{version} {self.count(version, '2xx')}" + (f" (+{fives} 5xx)" if fives else ""))
        versions = ", ".join(parts)
        return f"{self.sent} requests, {errors} 5xx ({errors / self.sent:.1%}){'; ' + versions if versions else ''}"


def listener_of(arn: str) -> str:
    """The listener of a listener rule's ARN (`...:listener-rule/app/<lb>/<id>/<listener>/<rule>`), whose
    proxy serves it: an ECS-native service's weights live on its production rule. A listener's ARN as is."""
    if ":listener-rule/" not in arn:
        return arn
    return arn.replace(":listener-rule/", ":listener/", 1).rsplit("/", 1)[0]


def service_urls(sandbox: Sandbox, service_name: str) -> list[tuple[str, int]]:
    """(base URL, weight) pairs clients of the service would use right now."""
    proxies = sandbox.state.get("proxies", {})
    cfn = sandbox.client("cloudformation")
    stack = cfn.describe_stacks(StackName=names.stack_name(service_name))["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    listener = listener_of(outputs.get(names.OUTPUT_LISTENER, ""))
    if listener in proxies:
        return [(f"http://127.0.0.1:{proxies[listener]['port']}", 1)]
    by_dns = {p["dns_name"]: p for p in proxies.values() if not p.get("redirects")}
    route53 = sandbox.client("route53")
    zone = outputs.get(names.OUTPUT_ZONE, "")
    record = outputs.get(names.OUTPUT_RECORD, "")
    zone_id = next(z["Id"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == zone)
    sets = route53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=record)["ResourceRecordSets"]
    out = []
    for rs in sets:
        if rs["Name"] == record and "Weight" in rs:
            target = rs["ResourceRecords"][0]["Value"]
            if target in by_dns:
                out.append((f"http://127.0.0.1:{by_dns[target]['port']}", int(rs["Weight"])))
    return out


def _failure_kind(error: Exception) -> str:
    """Why there was no answer: the innermost cause's class (ConnectTimeoutError, ConnectionResetError...)."""
    while getattr(error, "reason", None) is not None and isinstance(error.reason, Exception):
        error = error.reason
    return type(error).__name__


def run(sandbox: Sandbox, service_name: str, rps: float, duration: float, stop: threading.Event | None = None,
        path: str = "/") -> TrafficResult:
    """Send traffic until `duration` passes or `stop` is set; never more than rps x duration requests."""
    stop = stop or threading.Event()
    result = TrafficResult()
    lock = threading.Lock()
    http = urllib3.PoolManager(maxsize=256, retries=False, timeout=urllib3.Timeout(connect=2, read=10))
    rng = random.Random()
    urls: list[tuple[str, int]] = []
    refreshed = 0.0
    end = time.monotonic() + duration
    budget = int(rps * duration)
    interval = 1.0 / rps

    def send(url: str) -> None:
        try:
            response = http.request("GET", url + path)
            status, version = response.status, response.headers.get(VERSION_HEADER)
        except urllib3.exceptions.HTTPError as error:
            status, version = 599, None
            with lock:
                result.failures[_failure_kind(error)] += 1
        with lock:
            result.add(status, version)

    workers: list[threading.Thread] = []
    next_at = time.monotonic()
    while not stop.is_set() and time.monotonic() < end and result.sent < budget:
        now = time.monotonic()
        if now - refreshed > 1.0:
            try:
                urls = service_urls(sandbox, service_name) or urls
            except Exception:  # noqa: BLE001 - keep the last known routes
                pass
            refreshed = now
        live = [(u, w) for u, w in urls if w > 0]
        if live:
            url = rng.choices([u for u, _ in live], weights=[w for _, w in live])[0]
            thread = threading.Thread(target=send, args=(url,), daemon=True)
            thread.start()
            workers.append(thread)
            result.sent += 1
        workers = [w for w in workers if w.is_alive()]
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))
    for thread in workers:
        thread.join(timeout=10)
    return result
