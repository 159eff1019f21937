"""`deployer judge install`: the judge's artifact in bootstrap's code bucket, its stack, then a ping.

The artifact is stored under its sha256 (judge/<sha256>.zip), so uploading is skipped when that key
is there already, and the stack changes only when the code, the runtime or the template does: a
second install of the same zip changes nothing. The stack goes through a change set like every
other (deployer.provision.stacks). The ping (`{"deployer": "ping"}`) checks that the function runs
and is the version installed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from deployer.aws.cloudformation import CloudFormation
from deployer.errors import ConfigError, InconsistentState, ProvisionFailed
from deployer.judge.package import Artifact, package
from deployer.aws.awslambda import Invocation, JudgeFunction
from deployer.aws.s3 import CodeBucket, b64
from deployer.provision.stacks import Progress, StackResult, apply_stack
from deployer.synth import judge_template, names

PING = {"deployer": "ping"}
# moto runs functions in Docker; where there is none, Invoke answers this instead of the function
EMULATOR_WITHOUT_DOCKER = b"error running docker"


@dataclass
class JudgeServices:
    cloudformation: CloudFormation
    bucket: CodeBucket
    function: JudgeFunction


@dataclass(frozen=True)
class Ping:
    checked: bool
    version: str = ""
    note: str = ""

    def line(self) -> str:
        return f"ping answered version {self.version}" if self.checked else f"ping not checked: {self.note}"


@dataclass
class InstallReport:
    artifact: Artifact
    bucket: str
    uploaded: bool  # under --dry-run: would be
    stack: StackResult
    ping: Ping | None = None
    built_here: bool = False  # packaged for this install (in a temporary directory, gone now)
    dry_run: bool = field(default=False)

    @property
    def changed(self) -> bool:
        return self.uploaded or self.stack.action in ("created", "updated")

    def to_dict(self) -> dict:
        artifact = self.artifact.to_dict()
        if self.built_here:
            artifact.pop("path")
        return {
            "result": "dry-run" if self.dry_run else ("installed" if self.changed else "noop"),
            "artifact": artifact,
            "bucket": self.bucket,
            "key": self.artifact.key,
            "uploaded": self.uploaded,
            "stack": self.stack.to_dict(),
            "ping": None if self.ping is None else {"checked": self.ping.checked, "version": self.ping.version,
                                                    "note": self.ping.note},
        }

    def lines(self) -> list[str]:
        upload = ("would upload it to" if self.dry_run else "uploaded to") if self.uploaded else "already in"
        out = [f"judge: {self.artifact.key} ({self.artifact.zipped:,} bytes, {self.artifact.runtime} on "
               f"{self.artifact.architecture}) {upload} s3://{self.bucket}",
               f"judge: stack {self.stack.stack} {self.stack.action}"]
        if self.ping is not None:
            out.append(f"judge: {self.ping.line()}")
        return out


def install(artifact: Artifact | None, services: JudgeServices, progress: Progress, *, dry_run: bool = False,
            build: Callable[[Path], Artifact] = package) -> InstallReport:
    """Upload `artifact` (None: package one now), create or update the stack, ping the function."""
    bucket = code_bucket(services.cloudformation)  # no bucket: refused before packaging
    if artifact is not None:
        return _install(artifact, bucket, services, progress, dry_run=dry_run)
    with tempfile.TemporaryDirectory(prefix="deployer-judge-") as tmp:
        report = _install(build(Path(tmp) / "deployer-judge.zip"), bucket, services, progress, dry_run=dry_run)
    report.built_here = True
    return report


def _install(artifact: Artifact, bucket: str, services: JudgeServices, progress: Progress, *, dry_run: bool) -> InstallReport:
    stored = services.bucket.checksum(bucket, artifact.key)
    if stored and stored != b64(artifact.sha256):
        raise InconsistentState(f"s3://{bucket}/{artifact.key} holds other bytes than its name says (sha256 {stored}, base64)",
                                hint="someone wrote it by hand: delete it, then run `deployer judge install` again")
    upload = stored is None
    if upload and not dry_run:
        services.bucket.upload(bucket, artifact.key, artifact.path.read_bytes(), artifact.sha256)
        progress.line(f"{names.JUDGE_STACK}: uploaded {artifact.key} to s3://{bucket}")
    parameters = {names.PARAM_CODE_KEY: artifact.key, names.PARAM_RUNTIME: artifact.runtime,
                  names.PARAM_ARCHITECTURE: artifact.architecture}
    result = apply_stack(services.cloudformation, stack=names.JUDGE_STACK, template=judge_template().to_dict(),
                         parameters=parameters, progress=progress, dry_run=dry_run)
    ping = None if dry_run else check_ping(services.function.invoke(names.JUDGE_FUNCTION_NAME, PING), artifact.version)
    return InstallReport(artifact, bucket, upload, result, ping, dry_run=dry_run)


def code_bucket(cfn: CloudFormation) -> str:
    """The bootstrap stack's code bucket; one clear line if there is none yet."""
    stack = cfn.stack(names.BOOTSTRAP_STACK)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}
    if names.CODE_BUCKET_OUTPUT not in outputs:
        why = "there is no stack deployer-bootstrap" if stack is None else "stack deployer-bootstrap predates the code bucket"
        raise ConfigError([f"the judge function's code goes in the bootstrap stack's code bucket, but {why}"],
                          hint="run `deployer bootstrap` (once per account and region), then `deployer judge install`")
    return outputs[names.CODE_BUCKET_OUTPUT]


def check_ping(invocation: Invocation, expected: str) -> Ping:
    """The function answered the version installed; an emulator that cannot run functions is said so."""
    if EMULATOR_WITHOUT_DOCKER in invocation.payload and invocation.answer() is None:
        return Ping(False, note="this AWS endpoint cannot run Lambda functions (moto without Docker); "
                                "the sandbox (`deployer sandbox up`) runs them as local processes")
    answer = invocation.answer() or {}
    if invocation.function_error or answer.get("ok") is not True:
        detail = invocation.payload[:500].decode("utf-8", "replace")
        raise ProvisionFailed(f"the judge function did not answer its ping ({invocation.function_error or 'no ok'}):",
                              [detail, f"its log: /aws/lambda/{names.JUDGE_FUNCTION_NAME}"])
    if answer.get("version") != expected:
        raise InconsistentState(f"the judge function answered version {answer.get('version')!r}; the artifact is {expected!r}",
                                hint="another install may have run meanwhile: run `deployer judge install` again")
    return Ping(True, version=str(answer["version"]))
