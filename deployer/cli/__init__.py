"""Command line: parse, build objects through the factory, call one function, render.

Imports stay inside the commands so `deployer --help` does not pay for boto3, msgspec or pydantic, and
each command's module is imported when that command runs (`deployer validate` loads no release code).
Every DeployerError ends here as one clear message and its exit code (README, "Exit codes").
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path

import click

from deployer import __version__
from deployer.errors import DeployerError, ExitCode

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# command -> the module (deployer/cli/<module>.py) that defines it at module level under that name
COMMANDS = {
    "validate": "spec_cmds", "schema": "spec_cmds", "synth": "spec_cmds",
    "bootstrap": "stack_cmds", "provision": "stack_cmds",
    "release": "release_cmds", "resume": "release_cmds", "rollback": "release_cmds", "promote": "release_cmds",
    "abort": "release_cmds", "tidy": "release_cmds", "status": "release_cmds", "history": "release_cmds",
    "wait": "release_cmds",
    "sandbox": "sandbox_cmds", "pipelines": "pipelines_cmds", "webhook": "webhook_cmds", "train": "train_cmds",
    "judge": "judge_cmds",
}


class LazyGroup(click.Group):
    """The root group: a command's module is imported when the command is looked up."""

    def list_commands(self, ctx) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx, name: str):
        module = COMMANDS.get(name)
        return getattr(import_module(f"deployer.cli.{module}"), name) if module else None


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.option("-c", "--config", "config_path", default="deployer.yaml", envvar="DEPLOYER_CONFIG", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Service spec file.")
@click.option("--region", envvar="AWS_REGION", help="AWS region (default: AWS_REGION).")
@click.option("--profile", envvar="AWS_PROFILE", help="AWS profile (default: AWS_PROFILE).")
@click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="Send AWS calls here (the sandbox sets it).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for machines (on stdout).")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.version_option(__version__, prog_name="deployer")
@click.pass_context
def cli(ctx, config_path, region, profile, endpoint_url, output, debug):
    """Release ECS services safely: synth, provision, and rolling, canary or blue/green releases."""
    from deployer.cli.factory import Factory

    import os

    ctx.obj = Factory(config_path=config_path, region=region, profile=profile, endpoint_url=endpoint_url, output=output,
                      github=os.environ.get("GITHUB_ACTIONS") == "true")
    ctx.meta["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Entry point: the one place errors become messages and exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="deployer", standalone_mode=False)
    except DeployerError as exc:
        if debug:
            raise
        for i, line in enumerate(exc.lines()):
            click.echo(("error: " if i == 0 else "") + line, err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # the last line of defence: one line, no traceback
        if debug:
            raise
        click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        click.echo("hint: run again with --debug for the traceback, and report it", err=True)
        sys.exit(ExitCode.UNEXPECTED)
