"""GitHub Actions mode (on when GITHUB_ACTIONS=true): workflow commands, step outputs, step summary.

The runner reads `::command::` lines from the job's output. Anything that comes from outside
(ECS service events) is fenced with `::stop-commands::` so it can never be taken as a command.
Outputs and the summary go to the files named by GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
The formatting functions are pure; `publish` is the only writer.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

import click

from deployer.reporting.text import ReleaseTextProgress

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
    if environ.get("GITHUB_OUTPUT"):
        with open(environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(output_lines(outputs(report), f"deployer_{secrets.token_hex(8)}"))
    if environ.get("GITHUB_STEP_SUMMARY"):
        with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(summary_markdown(report))


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
