"""`deployer judge install` against a moto server: the artifact in the bootstrap stack's code bucket,
stack deployer-judge through a change set, then the ping; a second install of the same zip changes
nothing; services judged by the function need its stack first."""

from __future__ import annotations

import json
import logging

import pytest

from deployer import __version__
from deployer.errors import ConfigError
from deployer.judge.package import describe, package
from deployer.provision.judge import JudgeServices, install
from deployer.aws.awslambda import JudgeFunction
from deployer.aws.s3 import CodeBucket
from deployer.provision.service import bootstrap, provision
from deployer.spec import load_config
from deployer.synth import names
from tests.conftest import ROOT
from tests.functional.conftest import REGION, client, no_sleep
from tests.functional.test_cli import run

EXAMPLES_SPEC = ROOT / "examples" / "deployer.yaml"
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")  # moto skips types it does not model


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return package(tmp_path_factory.mktemp("judge") / "deployer-judge.zip")


@pytest.fixture
def services(observer) -> JudgeServices:
    return JudgeServices(observer.cloudformation, CodeBucket(client("s3"), sleep=no_sleep),
                         JudgeFunction(client("lambda"), sleep=no_sleep))


def exports() -> dict[str, str]:
    return {e["Name"]: e["Value"] for e in client("cloudformation").list_exports()["Exports"]}


def test_a_file_that_is_not_an_artifact_is_one_line_before_any_aws_call(capsys, tmp_path):
    (tmp_path / "other.zip").write_bytes(b"PK not really")
    code, out, err = run(capsys, "judge", "install", "--zip", str(tmp_path / "other.zip"))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {tmp_path / 'other.zip'}: not a judge artifact of `deployer judge package` (File is not a zip file)",
        "hint: build one with `deployer judge package --out PATH`",
    ]


def test_install_needs_the_bootstrap_code_bucket_first(aws, artifact, capsys):
    code, out, err = run(capsys, "judge", "install", "--zip", str(artifact.path))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "error: the judge function's code goes in the bootstrap stack's code bucket, but there is no stack deployer-bootstrap",
        "hint: run `deployer bootstrap` (once per account and region), then `deployer judge install`",
    ]


def test_install_uploads_creates_the_stack_then_a_second_install_changes_nothing(services, progress, artifact):
    bootstrap(services.cloudformation, progress)
    first = install(artifact, services, progress)
    bucket = services.cloudformation.outputs(names.BOOTSTRAP_STACK)[names.CODE_BUCKET_OUTPUT]
    assert (first.uploaded, first.stack.action, first.to_dict()["result"]) == (True, "created", "installed")
    stored = client("s3").get_object(Bucket=bucket, Key=artifact.key)["Body"].read()
    assert stored == artifact.path.read_bytes()
    function = client("lambda").get_function(FunctionName=names.JUDGE_FUNCTION_NAME)["Configuration"]
    assert (function["Handler"], function["Runtime"], function["Timeout"], function["MemorySize"]) == (
        names.JUDGE_HANDLER, artifact.runtime, 300, 512)
    assert function["Environment"]["Variables"]["DEPLOYER_TABLE"] == exports()[names.RECORDS_TABLE_EXPORT]
    assert exports()[names.JUDGE_FUNCTION_EXPORT] == function["FunctionArn"]
    parameters = {p["ParameterKey"]: p["ParameterValue"]
                  for p in services.cloudformation.stack(names.JUDGE_STACK)["Parameters"]}
    assert parameters == {"CodeKey": artifact.key, "Runtime": artifact.runtime, "Architecture": artifact.architecture}
    assert first.ping is not None and (first.ping.checked or "moto without Docker" in first.ping.note)

    again = install(artifact, services, progress)
    assert (again.uploaded, again.stack.action, again.to_dict()["result"]) == (False, "noop", "noop")
    assert f"{names.JUDGE_STACK}: no changes" in progress.lines
    versions = client("s3").list_object_versions(Bucket=bucket, Prefix="judge/").get("Versions", [])
    assert len(versions) == 1


def test_without_a_zip_install_packages_one_for_itself(services, progress, artifact):
    built = []

    def build(path):
        path.write_bytes(artifact.path.read_bytes())
        built.append(path)
        return describe(path)

    bootstrap(services.cloudformation, progress)
    report = install(None, services, progress, build=build)
    assert report.built_here and not built[0].exists()  # made in a temporary directory, gone now
    assert "path" not in report.to_dict()["artifact"] and report.to_dict()["key"] == artifact.key


def test_dry_run_uploads_nothing_and_leaves_no_stack(services, progress, artifact, capsys):
    bootstrap(services.cloudformation, progress)
    code, out, _ = run(capsys, "-o", "json", "judge", "install", "--zip", str(artifact.path), "--dry-run")
    report = json.loads(out)
    assert code == 0 and (report["result"], report["uploaded"], report["stack"]["action"]) == ("dry-run", True, "dry-run")
    assert report["ping"] is None and report["key"] == artifact.key
    bucket = services.cloudformation.outputs(names.BOOTSTRAP_STACK)[names.CODE_BUCKET_OUTPUT]
    assert client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert services.cloudformation.stack(names.JUDGE_STACK) is None


def test_the_ping_runs_the_installed_zip_where_the_endpoint_can_run_functions(services, progress, artifact, tmp_path):
    """With the sandbox's Lambda runner behind Invoke, the function CloudFormation made from the
    uploaded zip answers the ping with the version installed."""
    from deployer.sandbox.lambda_runner import LambdaRunner
    from deployer.sandbox.moto_ext import awslambda

    account = client("sts").get_caller_identity()["Account"]
    runner = LambdaRunner(tmp_path / "functions", {"AWS_REGION": REGION}, resolve=lambda name: awslambda.resolve(name, account, REGION))
    logging.getLogger("deployer.sandbox").setLevel(logging.WARNING)
    bootstrap(services.cloudformation, progress)
    awslambda.use(runner)
    try:
        report = install(artifact, services, progress)
    finally:
        awslambda.use(None)
    assert report.ping is not None and (report.ping.checked, report.ping.version) == (True, __version__)


def test_a_lambda_judged_service_needs_the_judge_stack_first(observer, progress, artifact, services):
    service = load_config(EXAMPLES_SPEC).services["orders"]
    bootstrap(observer.cloudformation, progress)  # its access logs go to the bootstrap bucket
    with pytest.raises(ConfigError) as info:
        provision(service, observer, progress, dry_run=True)
    assert info.value.exit_code == 2 and info.value.lines() == [
        "orders: release.ecs.judge is 'lambda', but there is no stack deployer-judge",
        "hint: run `deployer judge install` (once per account and region, after `deployer bootstrap`), then provision again",
    ]
    install(artifact, services, progress)
    report = provision(service, observer, progress, dry_run=True)
    assert [(r.stack, r.action) for r in report.results] == [("deployer-cluster-demo", "dry-run"), ("deployer-orders", "dry-run")]


def test_package_command_reports_the_artifact_as_json(capsys, tmp_path):
    code, out, _ = run(capsys, "-o", "json", "judge", "package", "--out", str(tmp_path / "j.zip"))
    report = json.loads(out)
    assert code == 0 and report["result"] == "packaged" and report["path"] == str(tmp_path / "j.zip")
    assert report["zipped_bytes"] == (tmp_path / "j.zip").stat().st_size and len(report["sha256"]) == 64
    assert (report["runtime"], report["version"]) == (f"python3.{__import__('sys').version_info.minor}", __version__)
