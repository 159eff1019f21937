"""GitHub Actions mode (on when GITHUB_ACTIONS=true): workflow commands, step outputs, step summary.

The runner reads `::command::` lines from the job's output. Anything that comes from outside
(ECS service events) is fenced with `::stop-commands::` so it can never be taken as a command.
Outputs and the summary go to the files named by GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
The formatting functions are pure; `publish` (one release) and `publish_train` (a train) are the
only writers.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping

import click

from deployer.reporting.text import ReleaseTextProgress
from deployer.reporting.train_report import halted_by, member_states, members_in_wave_order

OUTPUT_NAMES = {  # action output -> report field
    "result": "result",
    "release-id": "release_id",
    "task-definition-arn": "task_definition_arn",
    "previous-task-definition-arn": "previous_task_definition_arn",
    "rollback-reason": "rollback_reason",
}


def escape_data(text: str) -> str:
    """Workflow command message: %, CR and LF are escaped so one message stays one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Workflow command property (title=...): also `:` and `,`, which end a property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def outputs(report: Mapping) -> dict[str, str]:
    return {name: str(report.get(field) or "") for name, field in OUTPUT_NAMES.items()}


def output_lines(values: Mapping[str, str], delimiter: str) -> str:
    """GITHUB_OUTPUT in the multi-line form `name<<DELIM`, safe for any value without DELIM."""
    parts = []
    for name, value in values.items():
        if delimiter in value:
            raise ValueError(f"output {name} contains the delimiter")
        parts.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(parts)


def _cell(value) -> str:
    return "–" if value is None or value == "" else str(value).replace("|", "\\|").replace("\n", " ")


def summary_markdown(report: Mapping) -> str:
    """The step summary: one table row per gate decision, then the outcome."""
    icon = {"released": "✅", "rolled_back": "↩️", "interrupted": "⏸️", "locked": "🔒"}.get(report["result"], "❌")
    lines = [f"### {icon} deployer: {report['service']} {report.get('strategy', '')} — {report['result']}", ""]
    if report.get("release_id"):
        lines += [f"Release `{report['release_id']}` of `{report.get('image', '')}`"
                  f" ({_cell(report.get('duration_seconds'))} s)", ""]
    rows = report.get("steps") or []
    if rows:
        lines += ["| step | weight | duration | requests | 5xx | p99 | verdict |",
                  "|---:|---:|---:|---:|---:|---:|:---|"]
        for row in rows:
            p99 = "–" if row["p99_ms"] is None else f"{row['p99_ms']:.0f} ms"
            lines.append(f"| {_cell(row['step'])} | {row['weight']}% | {row['seconds']:.1f} s | {row['requests']} | "
                         f"{row['error_rate_pct']:.2f}% | {p99} | {row['verdict']} |")
        lines.append("")
    readings = report.get("readings") or []
    if readings:
        lines += ["<details><summary>Gate readings (each step's last decision)</summary>", "",
                  "| step | weight | source | metric | canary | baseline | limit | verdict |",
                  "|---:|---:|:---|:---|---:|---:|:---|:---|"]
        for r in readings:
            lines.append(f"| {_cell(r['step'])} | {r['weight']}% | {_cell(r['source'])} | {_cell(r['metric'])} | "
                         f"{_cell(r['canary'])} | {_cell(r['baseline'])} | {_cell(r['limit'])} | {_cell(r['outcome'])} |")
        lines += ["", "</details>", ""]
    if report.get("rollback_reason"):
        lines.append(f"**Rolled back:** {_cell(report['rollback_reason'])}")
    if report.get("restore_seconds") is not None:
        lines.append(f"Traffic was back on the stable version {report['restore_seconds']:.2f} s after the failed gate.")
    if report.get("message"):
        lines.append(_cell(report["message"]))
    return "\n".join(lines).rstrip() + "\n"


def publish(report: Mapping, environ: Mapping[str, str] = os.environ) -> None:
    """Append the outputs and the summary to the runner's files (missing names: nothing to do)."""
    _append(environ, outputs(report), lambda: summary_markdown(report))


def _append(environ: Mapping[str, str], values: Mapping[str, str], summary) -> None:
    if environ.get("GITHUB_OUTPUT"):
        with open(environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(output_lines(values, f"deployer_{secrets.token_hex(8)}"))
    if environ.get("GITHUB_STEP_SUMMARY"):
        with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(summary())


# ---------------------------------------------------------------- trains
TRAIN_OUTPUT_NAMES = ("result", "train-id", "reason", "halted-by", "members")  # what `train_outputs` writes
TRAIN_ICONS = {"released": "✅", "rolled_back": "↩️", "interrupted": "⏸️", "locked": "🔒", "noop": "📝"}
MEMBER_ICONS = {"released": "✅", "kept": "✅", "rolled_back": "↩️", "stopped": "⏸️", "pending": "⏳", "running": "🔄"}


def train_outputs(report: Mapping) -> dict[str, str]:
    """A train's outputs: result, train-id, reason (why it stopped), halted-by (the member that
    failed; empty when released) and members, compact JSON: SERVICE -> {state, release_id}."""
    return {
        "result": str(report.get("result") or ""),
        "train-id": str(report.get("id") or ""),
        "reason": str(report.get("reason") or report.get("message") or ""),
        "halted-by": halted_by(report),
        "members": json.dumps(member_states(report), separators=(",", ":")),
    }


def train_summary_markdown(report: Mapping) -> str:
    """A train's step summary: a heading with its result and reason, then one section per member,
    wave by wave, with the member's own table (`summary_markdown` of its report); a pending member
    is one line."""
    result = str(report.get("result") or "failed")
    name = report.get("train") or (report.get("plan") or {}).get("train", "")
    if report.get("dry_run"):
        return _train_plan_markdown(name, report)
    lines = [f"### {TRAIN_ICONS.get(result, '❌')} deployer train: {name} — {result}", ""]
    if report.get("id"):
        started, finished = report.get("started_at"), report.get("finished_at")
        took = f" ({finished - started:.1f} s)" if isinstance(started, (int, float)) and isinstance(finished, (int, float)) else ""
        lines += [f"Train run `{report['id']}`{took}", ""]
    reason = report.get("reason") or report.get("message")
    if reason:
        by = halted_by(report)
        lines += [f"**{f'Halted by {by}' if by else 'Stopped'}:** {_cell(reason)}", ""]
    for service, member in members_in_wave_order(report):
        lines += _member_markdown(service, member)
    return "\n".join(lines).rstrip() + "\n"


def _member_markdown(service: str, member: Mapping) -> list[str]:
    state = str(member.get("state") or "")
    heading = f"#### {MEMBER_ICONS.get(state, '❌')} wave {_cell(member.get('wave'))} · {service} — {state}"
    if state == "pending":
        return [f"{heading}: not started", ""]
    release = member.get("report")
    if release:
        kind = f"{release.get('strategy') or ''} release".strip()
        heading += f" ({kind})" if release.get("result") == state else f" (its {kind}: {release.get('result')})"
    lines = [heading, ""]
    reason = member.get("reason")
    if reason and not (release and reason == release.get("rollback_reason")):
        lines += [f"**Reason:** {_cell(reason)}", ""]
    if release:
        lines += summary_markdown(release).split("\n")[2:]  # its table, readings and outcome, under this heading
    else:
        release_id = f", release `{member['release_id']}`" if member.get("release_id") else ""
        lines += [f"Image `{_cell(member.get('image'))}`{release_id}", ""]
    return lines


def _train_plan_markdown(name: str, report: Mapping) -> str:
    """A dry run: the waves, each member's strategy, image and estimate."""
    from deployer.spec.units import format_duration

    plan = report.get("plan") or {}
    waves = plan.get("waves") or []
    seconds = int(report.get("estimate_seconds") or plan.get("estimated_seconds") or 0)
    lines = [f"### {TRAIN_ICONS['noop']} deployer train: {name} — noop (dry run)", "",
             f"{sum(len(w) for w in waves)} members in {len(waves)} wave(s), about {format_duration(seconds)} "
             f"(without pauses); on failure: {str(plan.get('on_failure', '')).replace('_', ' ')}", "",
             "| wave | member | strategy | image | estimate |", "|---:|:---|:---|:---|---:|"]
    for index, wave in enumerate(waves):
        for m in wave:
            lines.append(f"| {index + 1} | {_cell(m.get('service'))} | {_cell(m.get('strategy'))} | `{_cell(m.get('image'))}` | "
                         f"{format_duration(int(m.get('estimated_seconds') or 0))} |")
    return "\n".join(lines).rstrip() + "\n"


def publish_train(report: Mapping, environ: Mapping[str, str] = os.environ) -> None:
    """`publish` for a train: its outputs and its summary (a table per member)."""
    _append(environ, train_outputs(report), lambda: train_summary_markdown(report))


class GithubProgress(ReleaseTextProgress):
    """A collapsible group per release step; a failed gate as an error annotation."""

    def __init__(self, *, quiet: bool = False):
        super().__init__(quiet=quiet)
        self.open = False

    def step(self, index: int, total: int, text: str) -> None:
        self.close()
        click.echo(f"::group::[{index}/{total}] {escape_data(text)}", err=True)
        self.open = True

    def verdict(self, step: str, data: dict) -> None:
        super().verdict(step, data)
        if data["outcome"] == "FAIL":
            title = escape_property(f"Gate failed at {step}")
            click.echo(f"::error title={title}::{escape_data(data['reason'] + ': ' + data['detail'])}", err=True)

    def untrusted(self, text: str) -> None:
        token = secrets.token_hex(16)
        click.echo(f"::stop-commands::{token}", err=True)
        click.echo(text, err=True)
        click.echo(f"::{token}::", err=True)

    def close(self) -> None:
        if self.open:
            click.echo("::endgroup::", err=True)
            self.open = False
