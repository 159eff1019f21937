"""The judge's zip, built from this environment: the same install gives the same bytes, and unzipped
on its own (no site-packages) it answers a ping, creates the clients the judge needs, and runs the
guard and a hook against an emulated AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deployer import __version__
from deployer.judge.package import FIXED_TIME, MANIFEST, describe, package
from tests.functional.conftest import REGION

# Runs with `python -I -S`: no site-packages, so sys.path is the standard library; the artifact goes first.
PROBE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
from deployer.judge.entry import handle
answer = handle(json.loads(sys.argv[2]))
elapsed = time.perf_counter() - started
import boto3, botocore
session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
for name in ("dynamodb", "cloudformation", "cloudwatch", "elbv2", "route53", "ecs", "sts"):
    session.client(name)
import deployer.judge.hook, deployer.judge.guard
outside = sorted({m.split(".")[0] for m, mod in sys.modules.items()
                  if getattr(mod, "__file__", None) and not mod.__file__.startswith(sys.argv[1])
                  and not mod.__file__.startswith(sys.base_prefix)})
print(json.dumps({"answer": answer, "seconds": elapsed, "outside": outside, "botocore": botocore.__file__,
                  "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return package(tmp_path_factory.mktemp("judge") / "deployer-judge.zip")


@pytest.fixture(scope="module")
def unzipped(artifact, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(artifact.path) as archive:
        archive.extractall(target)
    return target


def probe(directory: Path, event: dict, env: dict | None = None) -> dict:
    run = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, str(directory), json.dumps(event)],
                         capture_output=True, text=True, timeout=120, cwd=directory, env=env or {"PATH": os.environ["PATH"]})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_same_install_gives_the_same_bytes(artifact, tmp_path):
    again = package(tmp_path / "again.zip")
    assert again.sha256 == artifact.sha256 and again.path.read_bytes() == artifact.path.read_bytes()
    assert describe(artifact.path) == artifact
    assert artifact.key == f"judge/{artifact.sha256}.zip"


def test_entries_are_sorted_with_fixed_times_and_modes_and_hash_based_bytecode(artifact):
    with zipfile.ZipFile(artifact.path) as archive:
        infos = archive.infolist()
        manifest = json.loads(archive.read(MANIFEST))
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert all(i.date_time == FIXED_TIME for i in infos)
    modes = {i.filename: i.external_attr >> 16 for i in infos}
    assert {m for n, m in modes.items() if n.endswith("/")} == {0o040755}
    assert {m for n, m in modes.items() if not n.endswith("/")} <= {0o100644, 0o100755}
    assert "deployer/" in names and "deployer/judge/" in names
    # every module's bytecode beside it, hash-based (PEP 552 flags 0b01: unchecked), no timestamp in it
    import sys

    cached = [n for n in names if n.endswith(".pyc")]
    assert f"deployer/judge/__pycache__/entry.{sys.implementation.cache_tag}.pyc" in cached
    assert all(n.split("/")[-2] == "__pycache__" for n in cached)
    with zipfile.ZipFile(artifact.path) as archive:
        flags = int.from_bytes(archive.read(cached[0])[4:8], "little")
    assert flags == 0b01
    assert not [n for n in names if n.startswith(("troposphere", "jinja2", "pydantic", "werkzeug", "deployer/_data/"))]
    assert "deployer/judge/entry.py" in names and "botocore/data/endpoints.json" in names
    services = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 2}
    assert services == {"dynamodb", "cloudformation", "cloudwatch", "elbv2", "route53", "ecs", "sts"}
    assert manifest == {"runtime": artifact.runtime, "architecture": artifact.architecture, "version": __version__,
                        "distributions": list(artifact.distributions)}
    assert artifact.zipped < 50 * 1024 * 1024 and artifact.unzipped == sum(i.file_size for i in infos)


def test_unzipped_alone_it_answers_a_ping_and_makes_the_judges_clients(unzipped):
    result = probe(unzipped, {"deployer": "ping"})
    assert result["answer"] == {"ok": True, "version": __version__}
    assert result["botocore"].startswith(str(unzipped))
    assert result["outside"] == []  # everything came from the artifact or the standard library
    assert not {"troposphere", "jinja2", "pydantic", "werkzeug"} & set(result["loaded"])


def test_unzipped_alone_it_runs_the_guard_and_a_hook_against_aws(unzipped, observer, progress):
    """The paths the judge takes at run time (the CLI factory, boto3's clients, the journal) import
    nothing that was left out."""
    from deployer.provision.service import bootstrap
    from deployer.synth import names

    bootstrap(observer.cloudformation, progress)
    table = observer.cloudformation.outputs(names.BOOTSTRAP_STACK)[names.RECORDS_TABLE_OUTPUT]
    env = {"PATH": os.environ["PATH"], "DEPLOYER_TABLE": table, "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
           "AWS_DEFAULT_REGION": REGION}
    assert probe(unzipped, {"deployer": "guard"}, env)["answer"] == {"guarded": 0, "actions": []}
    hook = {"serviceArn": f"arn:aws:ecs:{REGION}:123456789012:service/demo/payments",
            "targetServiceRevisionArn": f"arn:aws:ecs:{REGION}:123456789012:service-revision/demo/payments/1",
            "testTrafficWeights": {}, "productionTrafficWeights": {},
            "hookDetails": {"service": "payments", "stage": "POST_TEST_TRAFFIC_SHIFT"}}
    result = probe(unzipped, hook, env)
    assert result["answer"]["hookStatus"] in ("SUCCEEDED", "FAILED", "IN_PROGRESS")
    assert not {"troposphere", "jinja2", "pydantic"} & set(result["loaded"])
