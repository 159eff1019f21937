"""Command line: parse, build objects through the factory, call one function, render.

Imports stay inside the commands so `deployer --help` does not pay for boto3 or pydantic.
Every DeployerError ends here as one clear message and its exit code (README, "Exit codes").
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from deployer import __version__
from deployer.errors import DeployerError, ExitCode

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
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


@cli.command()
@click.pass_obj
def validate(factory):
    """Check deployer.yaml; one line per problem, exit 2 if any."""
    config = factory.config()
    summary = ", ".join(f"{n} ({s.release.strategy})" for n, s in config.services.items())
    _emit(factory, {"result": "valid", "file": str(factory.config_path), "services": list(config.services)},
          f"{factory.config_path}: {len(config.services)} service(s) valid: {summary}")


@cli.command()
def schema():
    """Print the JSON Schema of deployer.yaml (for editors)."""
    from deployer.spec.schema import json_schema_text

    click.echo(json_schema_text())


@cli.command()
@click.argument("services", nargs=-1)
@click.option("-d", "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("build/templates"),
              show_default=True, help="Where to write the templates.")
@click.option("--format", "fmt", type=click.Choice(["json", "yaml"]), default="json", show_default=True)
@click.pass_obj
def synth(factory, services, out_dir, fmt):
    """Write CloudFormation templates for SERVICES (default: all) plus cluster and bootstrap stacks."""
    from deployer.synth.render import write_templates

    written = write_templates(factory.config(), list(services), out_dir, fmt)
    _emit(factory, {"result": "written", "files": [str(p) for p in written]}, "\n".join(str(p) for p in written))


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show the change set, then delete it.")
@click.option("--kms-key", metavar="ARN", help="KMS key for the release-records table ('' for DynamoDB's own key); kept when not given.")
@click.option("--access-log-days", type=click.IntRange(1, 3650), metavar="DAYS",
              help="Days ALB access logs are kept in the bootstrap bucket (default 90); kept when not given.")
@click.pass_obj
def bootstrap(factory, dry_run, kms_key, access_log_days):
    """Create or update the stack holding release records, locks and the ALB access-log bucket."""
    from deployer.provision.service import bootstrap as run
    from deployer.synth.bootstrap import KMS_KEY_PATTERN, PARAM_KMS_KEY, PARAM_LOG_DAYS

    settings = {}
    if kms_key is not None:
        if not re.fullmatch(KMS_KEY_PATTERN, kms_key):
            raise click.BadParameter("expected a KMS key ARN arn:aws:kms:REGION:ACCOUNT:key/ID, or '' for none", param_hint="--kms-key")
        settings[PARAM_KMS_KEY] = kms_key
    if access_log_days is not None:
        settings[PARAM_LOG_DAYS] = str(access_log_days)
    report = run(factory.cloudformation(), factory.progress(), dry_run=dry_run, settings=settings)
    _emit(factory, report.to_dict(), "bootstrap: " + ", ".join(f"{r.stack} {r.action}" for r in report.results))


@cli.command()
@click.argument("service")
@click.option("--dry-run", is_flag=True, help="Show the change sets, then delete them.")
@click.pass_obj
def provision(factory, service, dry_run):
    """Create or update SERVICE's stacks through change sets, keeping the live release."""
    from deployer.provision.service import provision as run

    report = run(factory.service(service), factory.observer(), factory.progress(), dry_run=dry_run)
    _emit(factory, report.to_dict(), "provision: " + ", ".join(f"{r.stack} {r.action}" for r in report.results))


from deployer.cli import pipelines_cmds, release_cmds, sandbox_cmds, webhook_cmds  # noqa: E402  (imports stay lazy)

release_cmds.register(cli)
sandbox_cmds.register(cli)
pipelines_cmds.register(cli)
webhook_cmds.register(cli)


def _emit(factory, data: dict, text: str) -> None:
    if factory.output == "json":
        import json

        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text)


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
