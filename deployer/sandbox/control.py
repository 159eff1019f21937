"""`deployer sandbox up|down|status|env`: start, find and stop the sandbox process.

`up` also creates, in the emulated account, the network and hosted zones a spec refers to, and
writes a copy of the spec with their IDs next to the sandbox's state (`DEPLOYER_CONFIG`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from deployer import resources
from deployer.errors import DeployerError, UsageError

# Shipped with the package (deployer/resources.py): the same from a checkout and from a wheel.
DEFAULT_APP = resources.data("examples", "app", "app.py")
DEFAULT_IMAGES = resources.data("examples", "sandbox-images.yaml")
DEFAULT_SPEC = resources.data("examples", "deployer.yaml")
DUMMY_KEY = "sandbox"


def sandbox_dir() -> Path:
    return Path(os.environ.get("DEPLOYER_SANDBOX_DIR") or Path.home() / ".deployer" / "sandbox")


@dataclass
class Sandbox:
    directory: Path
    state: dict
    _clients: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        return self.state["endpoint"]

    @property
    def region(self) -> str:
        return self.state["region"]

    @property
    def spec(self) -> Path:
        return self.directory / "deployer.yaml"

    def env(self) -> dict[str, str]:
        """What a deployer command needs to use the sandbox: the endpoint, dummy credentials, the
        spec with the sandbox's IDs, and DEPLOYER_HTTP_PROXY (`http://127.0.0.1:PORT`), the
        sandbox's front door, through which pre-traffic checks reach `http://<ALB DNS name>:<port>/`."""
        env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": DUMMY_KEY, "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
               "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, "DEPLOYER_CONFIG": str(self.spec)}
        if self.state.get("front_door"):
            env["DEPLOYER_HTTP_PROXY"] = self.state["front_door"]
        return env

    def export_lines(self) -> list[str]:
        return [f"export {k}={v}" for k, v in self.env().items()]

    def client(self, name: str):
        """A boto3 client of the emulated account, made by deployer.aws like every other client."""
        from deployer.aws.session import AwsSettings, ClientFactory

        if self._clients is None:
            self._clients = ClientFactory(AwsSettings.emulated(self.endpoint, self.region, DUMMY_KEY))
        return self._clients.client(name)


def _alive(pid: int) -> bool:
    """Running, and not a zombie: a sandbox started by this very process (tests, the demo) stays
    a zombie after it exits until it is reaped, and signal 0 still reaches a zombie."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our child, exited and now reaped
    except ChildProcessError:
        pass  # not our child: its parent reaps it
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def find(directory: Path | None = None) -> Sandbox | None:
    directory = directory or sandbox_dir()
    path = directory / "state.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return Sandbox(directory, state) if state.get("ready") and _alive(int(state.get("pid", 0))) else None


def _free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise DeployerError("no free port on 127.0.0.1")


def up(*, spec: Path = DEFAULT_SPEC, images: Path = DEFAULT_IMAGES, port: int = 4566, proxy_base: int = 18000,
       directory: Path | None = None, wait: float = 60.0, lifetime: float = 8 * 3600) -> Sandbox:
    directory = (directory or sandbox_dir()).absolute()  # the daemon runs in it
    running = find(directory)
    if running:
        return running
    app = resources.require("examples", "app", "app.py")
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port(port)
    log = open(directory / "daemon.out", "ab")
    command = [sys.executable, "-m", "deployer.sandbox.daemon", "--dir", str(directory), "--port", str(port),
               "--proxy-base", str(_free_port(proxy_base)), "--app", str(app), "--images", str(Path(images).absolute()),
               "--lifetime", str(lifetime)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd=str(directory))
    log.close()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sandbox = find(directory)
        if sandbox:
            seed(sandbox, spec)
            return sandbox
        time.sleep(0.2)
    raise DeployerError(f"the sandbox did not start within {wait:.0f}s", hint=f"see {directory / 'daemon.out'} and sandbox.log")


def seed(sandbox: Sandbox, spec: Path) -> None:
    """Create what the spec names in the emulated account and write the spec with their IDs."""
    sandbox.spec.write_text(seeded_spec(sandbox.client, sandbox.region, spec))


def seeded_spec(client, region: str, spec: Path) -> str:
    """The spec's text with its placeholders replaced by resources made through `client(name)`:
    VPCs, subnets, hosted zones, ACM certificates (for the service's record, or a name of its own)
    and KMS keys. The sandbox's listeners still speak plain HTTP on loopback whatever the certificate."""
    from deployer.spec import load_config

    config = load_config(spec)
    text = spec.read_text()
    ec2 = client("ec2")
    route53 = client("route53")
    zones = {z["Name"] for z in route53.list_hosted_zones()["HostedZones"]}
    done: dict[str, str] = {}
    for service in config.services.values():
        net = service.network
        if net.vpc not in done:
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            done[net.vpc] = vpc
        subnets = list(net.subnets) + list(service.load_balancer.subnets or [])
        for subnet in dict.fromkeys(subnets):
            if subnet not in done:
                count = len([k for k in done if k.startswith("subnet-")])
                zone = "abcdef"[count % 6]
                done[subnet] = ec2.create_subnet(VpcId=done[net.vpc], CidrBlock=f"10.0.{count + 1}.0/24",
                                                 AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
        if service.dns and service.dns.zone.rstrip(".") + "." not in zones:
            route53.create_hosted_zone(Name=service.dns.zone, CallerReference=f"sandbox-{service.dns.zone}")
            zones.add(service.dns.zone.rstrip(".") + ".")
        lb = service.load_balancer
        for listener in (lb.listener, lb.test_listener):
            if listener and listener.certificate and listener.certificate not in done:
                domain = service.dns.record.rstrip(".") if service.dns else f"{service.name}.sandbox.internal"
                done[listener.certificate] = client("acm").request_certificate(DomainName=domain)["CertificateArn"]
        if service.kms_key and service.kms_key not in done:
            done[service.kms_key] = client("kms").create_key(Description=f"sandbox: {service.name} logs")["KeyMetadata"]["Arn"]
    for old, new in done.items():
        text = text.replace(old, new)
    return text


def down(directory: Path | None = None, wait: float = 20.0) -> bool:
    directory = directory or sandbox_dir()
    sandbox = find(directory)
    if sandbox is None:
        (directory / "state.json").unlink(missing_ok=True)
        return False
    pid = int(sandbox.state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    (directory / "state.json").unlink(missing_ok=True)
    return True


def require(directory: Path | None = None) -> Sandbox:
    sandbox = find(directory)
    if sandbox is None:
        raise UsageError("no sandbox is running", hint="start one with `deployer sandbox up`")
    return sandbox
