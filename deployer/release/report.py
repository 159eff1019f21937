"""The release report: what machines read (`--output json`) and what the summary table shows. Pure."""

from __future__ import annotations

from deployer.errors import ExitCode
from deployer.release import record as states
from deployer.release.record import ReleaseRecord, iso

RESULTS = {
    states.RELEASED: ("released", ExitCode.OK),
    states.ROLLED_BACK: ("rolled_back", ExitCode.ROLLED_BACK),
    states.FAILED: ("failed", ExitCode.ROLLBACK_FAILED),
    states.INTERRUPTED: ("interrupted", ExitCode.INTERRUPTED),
}


def restore_seconds(record: ReleaseRecord) -> float | None:
    """From the FAIL verdict to the weights read back on the stable color."""
    fail_at = next((v["at"] for v in record.verdicts if v["outcome"] == "FAIL"), None)
    if fail_at is None:
        return None
    restored = next((e["at"] for e in record.events if e["at"] >= fail_at and e["text"].startswith("weights ")), None)
    return None if restored is None else round(restored - fail_at, 3)


def step_rows(record: ReleaseRecord) -> list[dict]:
    """One row per gate decision: step, weight, duration since the previous row, numbers, verdict."""
    rows = []
    previous = record.started_at
    for v in record.verdicts:
        canary = v["canary"]
        rows.append({
            "step": (v["step"] + 1) if v["step"] is not None else None,
            "weight": v["weight"],
            "seconds": round(v["at"] - previous, 1),
            "requests": canary["requests"],
            "errors": canary["errors"],
            "error_rate_pct": round(100 * canary["errors"] / canary["requests"], 2) if canary["requests"] else 0.0,
            "p99_ms": None if canary["p99_ms"] is None else round(canary["p99_ms"], 1),
            "verdict": v["outcome"],
            "detail": v["detail"],
        })
        previous = v["at"]
    return rows


def reading_rows(record: ReleaseRecord) -> list[dict]:
    """Every source's rows (source, metric, canary, baseline, limit, verdict) of each step's last
    gate decision: what the step was finally judged by."""
    last: dict = {}
    for v in record.verdicts:
        last[v["step"]] = v
    rows = []
    for v in last.values():
        for r in v.get("numbers", {}).get("readings", []):
            rows.append({"step": (v["step"] + 1) if v["step"] is not None else None, "weight": v["weight"],
                         **{k: r[k] for k in ("source", "metric", "canary", "baseline", "limit", "outcome")}})
    return rows


def report(record: ReleaseRecord) -> dict:
    result, code = RESULTS.get(record.state, ("failed", ExitCode.UNEXPECTED))
    if not record.finished and record.judge == "lambda":
        result, code = "detached", ExitCode.OK  # ECS and the judge function carry it on
    end = record.finished_at or (record.events[-1]["at"] if record.events else record.started_at)
    return {
        "result": result,
        "exit_code": code,
        "release_id": record.id,
        "service": record.service,
        "strategy": record.strategy,
        "image": record.image,
        "task_definition_arn": record.to_revision,
        "previous_task_definition_arn": record.from_revision,
        "live_color": record.live,
        "rollback_reason": record.reason if record.state in (states.ROLLED_BACK, states.FAILED) else "",
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "duration_seconds": round(end - record.started_at, 1),
        "restore_seconds": restore_seconds(record),
        "steps": step_rows(record),
        "readings": reading_rows(record),
        "verdicts": record.verdicts,
        "events": record.events,
        "actor": record.actor,
        "judge": record.judge or "runner",
        **({"ecs_deployment": record.ecs_deployment} if record.ecs_deployment else {}),
    }


def summary_lines(data: dict) -> list[str]:
    head = f"{'step':>4}  {'weight':>6}  {'secs':>6}  {'requests':>8}  {'5xx':>6}  {'p99 ms':>7}  verdict"
    lines = [head]
    for row in data["steps"]:
        p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.0f}"
        lines.append(f"{row['step'] or '-':>4}  {row['weight']:>5}%  {row['seconds']:>6.1f}  {row['requests']:>8}  "
                     f"{row['error_rate_pct']:>5.1f}%  {p99:>7}  {row['verdict']}")
    readings = data.get("readings") or []
    if readings:
        final = [r for r in readings if r["step"] == readings[-1]["step"]]
        lines.append(f"gate readings at {final[0]['weight']}%:")
        for r in final:
            lines.append(f"  {r['source']:<10}  {r['metric']:<16}  canary {_shown(r['canary']):>8}  baseline {_shown(r['baseline']):>8}  "
                         f"limit {r['limit'] or '-':<24}  {r['outcome'] or '-'}")
    outcome = f"{data['result']}: {data['service']} {data['strategy']} {data['release_id']} in {data['duration_seconds']:.0f}s"
    if data["rollback_reason"]:
        outcome += f" — {data['rollback_reason']}"
    if data["restore_seconds"] is not None:
        outcome += f" (traffic restored {data['restore_seconds']:.2f}s after the FAIL verdict)"
    lines.append(outcome)
    return lines


def _shown(value) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)
