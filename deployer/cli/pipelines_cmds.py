"""`deployer pipelines init`: write a GitHub workflow or a Jenkinsfile for a service."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def pipelines():
    """CI pipeline files for GitHub Actions and Jenkins."""


@pipelines.command()
@click.option("--ci", "ci", type=click.Choice(["github", "jenkins"]), required=True, help="Which CI to write for.")
@click.argument("service")
@click.option("-d", "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The repository to write into.")
@click.option("--registry", help="Image registry for the Jenkinsfile (default: an ECR placeholder to edit).")
@click.option("--force", is_flag=True, help="Overwrite files that exist and differ.")
@click.pass_obj
def init(factory, ci, service, directory, registry, force):
    """Write the pipeline files that build and release SERVICE."""
    from deployer.ci.scaffold import render, scaffold_for, write

    import os

    spec = factory.service(service)
    config = os.path.relpath(factory.config_path.resolve(), directory.resolve())
    if config.startswith(".."):  # the spec lives outside the repository: keep the path as given
        config = str(factory.config_path)
    files = render(ci, scaffold_for(spec, config, factory.region, registry))
    written = write(files, directory, force)
    from deployer.cli.output import emit

    nexts = {
        "github": "next: set the variables DEPLOYER_ROLE_ARN and AWS_REGION on the environments staging and "
                  "production (Settings > Environments), then push",
        "jenkins": "next: add pipelines/jenkins of deployer as the shared library `deployer` "
                   "(Manage Jenkins > System > Global Trusted Pipeline Libraries), then create the pipeline job",
    }
    emit(factory, {"result": "written", "files": [str(p) for p in written]},
          "\n".join([*(f"wrote {p}" for p in written), nexts[ci]]))
