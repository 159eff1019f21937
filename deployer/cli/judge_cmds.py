"""`deployer judge package|install`: the judge function's artifact, and its stack."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli.output import emit


@click.group()
def judge():
    """The judge function: ECS's AWS_LAMBDA hooks (release.ecs.judge: lambda) and the guard of orphaned releases."""


@judge.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("build/deployer-judge.zip"),
              show_default=True, help="Where to write the zip.")
@click.pass_obj
def package(factory, out):
    """Build the function's zip from what is installed here (Linux, CPython 3.11-3.13); nothing is downloaded."""
    from deployer.judge.package import package as build

    artifact = build(out)
    emit(factory, {"result": "packaged", **artifact.to_dict()}, artifact.line())


@judge.command()
@click.option("--zip", "zip_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An artifact of `deployer judge package` (default: package one now).")
@click.option("--dry-run", is_flag=True, help="Show what would be uploaded and the stack's change set; change nothing.")
@click.pass_obj
def install(factory, zip_path, dry_run):
    """Upload the artifact to the bootstrap stack's code bucket, create or update stack deployer-judge, ping it."""
    from deployer.judge.package import describe
    from deployer.provision.judge import install as run

    artifact = describe(zip_path) if zip_path else None  # not an artifact: refused before any AWS call
    report = run(artifact, _services(factory), factory.progress(), dry_run=dry_run)
    emit(factory, report.to_dict(), "\n".join(report.lines()))


def _services(factory):
    from deployer.provision.judge import JudgeServices
    from deployer.aws.awslambda import JudgeFunction
    from deployer.aws.s3 import CodeBucket

    clients = factory.clients()
    return JudgeServices(factory.cloudformation(), CodeBucket(clients.client("s3")), JudgeFunction(clients.client("lambda")))
