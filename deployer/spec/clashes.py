"""What no single service can see: two services that would fight over one DNS record, or over
one shared listener (the same rule priority, or conditions that match the same requests).
Pure: a validated config in, (location, problem) pairs out; the loader adds the line numbers."""

from __future__ import annotations

from deployer.spec.models import DeployerConfig


def clashes(config: DeployerConfig) -> list[tuple[tuple, str]]:
    found: list[tuple[tuple, str]] = []
    records: dict[str, str] = {}
    rules: dict[str, list[tuple[str, object]]] = {}
    for name, service in config.services.items():
        if service.dns is not None:
            record = service.dns.record.rstrip(".").lower()
            if record in records:
                found.append((("services", name, "dns", "record"),
                               f"{record} is also {records[record]}'s record; each service needs its own "
                               "(the second would take over the first's traffic)"))
            else:
                records[record] = name
        rule = service.load_balancer.rule
        if rule is None:
            continue
        for other, theirs in rules.get(rule.listener_arn, []):
            if theirs.priority == rule.priority:
                found.append((("services", name, "load_balancer", "rule", "priority"),
                              f"{rule.priority} is also {other}'s rule priority on the same listener (priorities are unique per listener)"))
            elif _overlap(rule.hosts, theirs.hosts) and _overlap(rule.paths, theirs.paths):
                first = other if theirs.priority < rule.priority else name
                found.append((("services", name, "load_balancer", "rule"),
                              f"matches the same requests as {other}'s rule on the same listener "
                              f"({_shown(rule, theirs)}); {first}'s lower priority would take them all"))
        rules.setdefault(rule.listener_arn, []).append((name, rule))
    return found


def _overlap(mine: list[str], theirs: list[str]) -> bool:
    """An empty list matches everything; otherwise the same value in both."""
    return not mine or not theirs or bool({v.lower() for v in mine} & {v.lower() for v in theirs})


def _shown(a, b) -> str:
    hosts = sorted({h.lower() for h in a.hosts} & {h.lower() for h in b.hosts}) or ["any host"]
    paths = sorted(set(a.paths) & set(b.paths)) or ["any path"]
    return f"{', '.join(hosts)}; {', '.join(paths)}"
