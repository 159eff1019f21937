"""Commands on CloudFormation stacks: bootstrap (records, locks, access logs) and provision (a service)."""

from __future__ import annotations

import re

import click

from deployer.cli.output import emit


@click.command()
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
    emit(factory, report.to_dict(), "bootstrap: " + ", ".join(f"{r.stack} {r.action}" for r in report.results))


@click.command()
@click.argument("service")
@click.option("--dry-run", is_flag=True, help="Show the change sets, then delete them.")
@click.pass_obj
def provision(factory, service, dry_run):
    """Create or update SERVICE's stacks through change sets, keeping the live release."""
    from deployer.provision.service import provision as run

    report = run(factory.service(service), factory.observer(), factory.progress(), dry_run=dry_run)
    emit(factory, report.to_dict(), "provision: " + ", ".join(f"{r.stack} {r.action}" for r in report.results))
