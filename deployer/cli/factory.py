"""Builds what commands need (spec, adapters, observer) from the global options, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Factory:
    config_path: Path
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    output: str = "text"
    github: bool = False  # GitHub Actions mode (GITHUB_ACTIONS=true)
    _clients: object = field(default=None, init=False, repr=False)

    def config(self):
        from deployer.spec import load_config

        return load_config(self.config_path)

    def service(self, name: str):
        from deployer.spec import load_service

        return load_service(self.config_path, name)

    def clients(self):
        if self._clients is None:
            from deployer.aws.session import AwsSettings, ClientFactory

            self._clients = ClientFactory(AwsSettings.from_env(self.region, self.profile, self.endpoint_url))
        return self._clients

    def cloudformation(self):
        from deployer.aws.cloudformation import CloudFormation

        return CloudFormation(self.clients().client("cloudformation"))

    def observer(self):
        from deployer.aws.ecs import Ecs
        from deployer.aws.elbv2 import Elbv2
        from deployer.aws.route53 import Route53
        from deployer.provision.observe import Observer

        clients = self.clients()
        return Observer(
            cloudformation=self.cloudformation(),
            ecs=Ecs(clients.client("ecs")),
            elbv2=Elbv2(clients.client("elbv2")),
            route53=Route53(clients.client("route53")),
        )

    def progress(self):
        from deployer.reporting.text import TextProgress

        return TextProgress()

    # --- releases ---
    def journal(self):
        from deployer.aws.dynamodb import Table
        from deployer.errors import ConfigError, NotFound
        from deployer.release.journal import DynamoJournal
        from deployer.synth import names

        try:
            table = self.cloudformation().outputs(names.BOOTSTRAP_STACK)[names.RECORDS_TABLE_OUTPUT]
        except (NotFound, KeyError):
            raise ConfigError(["no release records table (stack deployer-bootstrap)"], hint="run `deployer bootstrap` once per account and region") from None
        return DynamoJournal(Table(self.clients().client("dynamodb"), table))

    def target(self, service):
        from deployer.release.wiring import service_target

        return service_target(service, self.clients())

    def executor(self, service, *, poll: float = 5.0, stop=None, wait_for_lock: float = 0.0, journal=None, progress=None,
                 stop_requested=None, target=None):
        from deployer.release.wiring import executor

        if progress is None:
            if self.github:
                from deployer.reporting.github import GithubProgress as Progress
            else:
                from deployer.reporting.text import ReleaseTextProgress as Progress
            progress = Progress()
        journal = journal or self.journal()  # no bootstrap stack is the first thing to say
        return executor(service, target or self.target(service), journal, progress, poll=poll, stop=stop,
                        wait_for_lock=wait_for_lock, stop_requested=stop_requested)
