"""Functional tier: a real moto server on loopback (session-scoped, reset between tests)."""

from __future__ import annotations

import logging
import os
import socket
import urllib.request

import boto3
import pytest

from tests.conftest import EXAMPLES

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    from deployer.sandbox import moto_ext

    from tests.fakes import SANDBOX_HEALTH

    moto_ext.install(SANDBOX_HEALTH)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request is noise here
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")}
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION
    )
    os.environ.pop("AWS_PROFILE", None)
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def aws(moto_endpoint):
    """A clean emulated account for each test."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10).read()
    return moto_endpoint


def client(name: str):
    return boto3.client(name, region_name=REGION, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


@pytest.fixture
def spec_path(aws, tmp_path):
    """examples/deployer.yaml with the VPC, subnets, hosted zone, certificate and KMS key it names
    made in the emulated account (as `deployer sandbox up` makes them)."""
    from deployer.sandbox.control import seeded_spec

    path = tmp_path / "deployer.yaml"
    path.write_text(seeded_spec(client, REGION, EXAMPLES / "deployer.yaml"))
    return path


class Recorder:
    """A Progress that keeps what it was told."""

    def __init__(self):
        self.lines: list[str] = []
        self.events: list = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def event(self, event) -> None:
        self.events.append(event)


@pytest.fixture
def progress():
    return Recorder()


def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
def observer(aws):
    from deployer.aws.cloudformation import CloudFormation
    from deployer.aws.ecs import Ecs
    from deployer.aws.elbv2 import Elbv2
    from deployer.aws.route53 import Route53
    from deployer.provision.observe import Observer

    return Observer(
        cloudformation=CloudFormation(client("cloudformation"), sleep=no_sleep),
        ecs=Ecs(client("ecs"), sleep=no_sleep),
        elbv2=Elbv2(client("elbv2"), sleep=no_sleep),
        route53=Route53(client("route53"), sleep=no_sleep),
    )


def sandbox_daemon(directory, minute: str, lifetime: int, images=None):
    """A sandbox daemon of its own for a module's tests (its own directory, ports, time scale), with
    none of this process's AWS settings; stopped by the caller with control.down(directory)."""
    import subprocess
    import sys
    import time

    from deployer.sandbox import control
    from deployer.sandbox.native_deployments import MINUTE_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env[MINUTE_ENV] = minute
    command = [sys.executable, "-m", "deployer.sandbox.daemon", "--dir", str(directory), "--port", str(free_port()),
               "--proxy-base", str(free_port()), "--app", str(control.DEFAULT_APP), "--lifetime", str(lifetime)]
    if images is not None:
        command += ["--images", str(images)]
    with open(directory / "daemon.out", "ab") as log:
        subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd=str(directory))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = control.find(directory)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError((directory / "daemon.out").read_text()[-3000:])
