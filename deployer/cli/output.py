"""How a command shows its result: JSON on stdout for machines (`-o json`), a line for people."""

from __future__ import annotations

import click


def emit(factory, data: dict, text: str) -> None:
    if factory.output == "json":
        import json

        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text)
