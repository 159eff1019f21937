"""A bounded traffic generator on loopback: `rps` requests a second for `duration` seconds.

It reaches a service the way its clients would: through its ALB listener's proxy, or, for DNS
blue/green, through the ALB its Route53 weighted records point to (weights re-read every second).
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


@dataclass
class TrafficResult:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)

    def line(self) -> str:
        errors = sum(n for s, n in self.statuses.items() if s >= 500)
        versions = ", ".join(f"v{v} {n}" for v, n in sorted(self.versions.items()))
        return f"{self.sent} requests, {errors} 5xx ({errors / self.sent:.1%}){'; ' + versions if versions else ''}" if self.sent else "0 requests"


def service_urls(sandbox: Sandbox, service_name: str) -> list[tuple[str, int]]:
    """(base URL, weight) pairs clients of the service would use right now."""
    proxies = sandbox.state.get("proxies", {})
    cfn = sandbox.client("cloudformation")
    stack = cfn.describe_stacks(StackName=names.stack_name(service_name))["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if names.OUTPUT_LISTENER in outputs and outputs[names.OUTPUT_LISTENER] in proxies:
        return [(f"http://127.0.0.1:{proxies[outputs[names.OUTPUT_LISTENER]]['port']}", 1)]
    by_dns = {p["dns_name"]: p for p in proxies.values()}
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


def run(sandbox: Sandbox, service_name: str, rps: float, duration: float, stop: threading.Event | None = None,
        path: str = "/") -> TrafficResult:
    """Send traffic until `duration` passes or `stop` is set; never more than rps x duration requests."""
    stop = stop or threading.Event()
    result = TrafficResult()
    lock = threading.Lock()
    http = urllib3.PoolManager(maxsize=64, retries=False, timeout=urllib3.Timeout(connect=2, read=10))
    rng = random.Random()
    urls: list[tuple[str, int]] = []
    refreshed = 0.0
    end = time.monotonic() + duration
    budget = int(rps * duration)
    interval = 1.0 / rps

    def send(url: str) -> None:
        try:
            response = http.request("GET", url + path)
            status, body = response.status, response.data
        except urllib3.exceptions.HTTPError:
            status, body = 599, b""
        with lock:
            result.statuses[status] += 1
            if status == 200 and b'"version"' in body:
                import json

                result.versions[json.loads(body).get("version", "?")] += 1

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
