"""How a command shows its result: JSON on stdout for machines (`-o json`), a line for people."""

from __future__ import annotations

import click


def emit(factory, data: dict, text: str) -> None:
    if factory.output == "json":
        import json

        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text)


def report_and_exit(factory, data: dict, lines: list[str], error=None) -> None:
    """A release-like run's result on stdout (JSON, or lines for people); then its error, if any, on
    stderr with what to do next, and its exit code."""
    emit(factory, data, "\n".join(lines))
    if error is not None:
        import sys

        for i, line in enumerate(error.lines()):
            click.echo(("error: " if i == 0 else "") + line, err=True)
        sys.exit(error.exit_code)
