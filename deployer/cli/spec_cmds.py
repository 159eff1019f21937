"""Commands on deployer.yaml and its templates: validate, schema, synth (no AWS)."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli.output import emit


@click.command()
@click.pass_obj
def validate(factory):
    """Check deployer.yaml; one line per problem, exit 2 if any."""
    config = factory.config()
    summary = ", ".join(f"{n} ({s.release.strategy}{', engine ecs' if s.release.native else ''})" for n, s in config.services.items())
    text = f"{factory.config_path}: {len(config.services)} service(s) valid: {summary}"
    if config.trains:
        trains = "; ".join(f"{n} ({' -> '.join(', '.join(w) for w in t.order())})" for n, t in config.trains.items())
        text += f"\n{len(config.trains)} train(s): {trains}"
    emit(factory, {"result": "valid", "file": str(factory.config_path), "services": list(config.services),
                   "trains": {n: t.order() for n, t in config.trains.items()}}, text)


@click.command()
def schema():
    """Print the JSON Schema of deployer.yaml (for editors)."""
    from deployer.spec.schema import json_schema_text

    click.echo(json_schema_text())


@click.command()
@click.argument("services", nargs=-1)
@click.option("-d", "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("build/templates"),
              show_default=True, help="Where to write the templates.")
@click.option("--format", "fmt", type=click.Choice(["json", "yaml"]), default="json", show_default=True)
@click.pass_obj
def synth(factory, services, out_dir, fmt):
    """Write CloudFormation templates for SERVICES (default: all) plus cluster and bootstrap stacks."""
    from deployer.synth.render import write_templates

    written = write_templates(factory.config(), list(services), out_dir, fmt)
    emit(factory, {"result": "written", "files": [str(p) for p in written]}, "\n".join(str(p) for p in written))
