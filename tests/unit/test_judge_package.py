"""What goes in the judge's zip, decided without building it: the judge's imports (read from its
source, like tests/unit/test_layering.py), the distributions, the files, the platform refusals.
Building and running the zip: tests/functional/test_judge_package.py."""

from __future__ import annotations

import platform
import sys

import pytest

from deployer.errors import UsageError
from deployer.judge import package as pkg

NEVER_AT_RUN_TIME = {"troposphere", "cfn-flip", "jinja2", "markupsafe", "pydantic", "pydantic-core", "werkzeug",
                     "waitress", "moto"}


@pytest.fixture(scope="module")
def imports() -> dict[str, str]:
    return pkg.judge_imports(pkg.package_dir())


def test_the_judge_imports_the_sdk_and_its_own_needs_but_no_template_or_web_libraries(imports):
    assert {"boto3", "botocore", "msgspec", "tenacity"} <= set(imports)
    assert not {"troposphere", "jinja2", "pydantic", "werkzeug", "waitress", "moto"} & set(imports), imports


def test_the_distributions_follow_requires_dist_from_what_the_judge_imports(imports):
    names = {pkg._canonical(d.metadata["Name"]) for d in pkg.distributions(imports)}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3", "msgspec",
            "tenacity"} <= names
    assert not names & NEVER_AT_RUN_TIME, names


def test_an_import_no_requirement_provides_is_one_line_naming_the_module():
    with pytest.raises(UsageError) as info:
        pkg.distributions({"numpy": "deployer.release.gates"})
    assert info.value.message == "deployer.release.gates imports numpy, which no distribution deployer-ecs requires provides"
    assert info.value.exit_code == 2


def test_botocore_keeps_the_services_the_judge_calls_and_sts():
    assert pkg.botocore_services() == {"dynamodb", "cloudformation", "cloudwatch", "elbv2", "route53", "ecs", "sts"}


@pytest.mark.parametrize("name,kept", [
    ("botocore/data/ecs/2014-11-13/service-2.json.gz", True),
    ("botocore/data/ec2/2016-11-15/service-2.json.gz", False),
    ("botocore/data/endpoints.json", True),
    ("botocore/data/_retry.json", True),
    ("boto3/data/dynamodb/2012-08-10/resources-1.json", True),
    ("boto3/data/s3/2006-03-01/resources-1.json", False),
    ("botocore/__pycache__/client.cpython-311.pyc", False),
    ("botocore-1.44.8.dist-info/RECORD", False),
    ("botocore-1.44.8.dist-info/METADATA", True),
    ("../../bin/jp.py", False),
    ("msgspec/_core.cpython-311-x86_64-linux-gnu.so", True),
])
def test_files_kept(name, kept):
    assert pkg._kept(name, {"ecs", "dynamodb"}) is kept


class FakeDist:
    def __init__(self, requires):
        self.requires = requires


def test_requirements_follow_extras_and_skip_those_of_extras_not_asked_for():
    dist = FakeDist(["botocore (<1.45.0,>=1.44.8)", "jmespath<2.0.0,>=0.7.1",
                     "botocore[crt] (<2.0a0,>=1.21.0) ; extra == 'crt'", "tomli; python_version < \"3.11\"",
                     "moto[server]==5.2.5; extra == \"sandbox\""])
    assert pkg._requirements(dist, set()) == [("botocore", set()), ("jmespath", set()), ("tomli", set())]
    assert ("moto", {"server"}) in pkg._requirements(dist, {"sandbox"})


@pytest.mark.parametrize("tag,needs", [
    ("manylinux_2_17_x86_64", (2, 17)),
    ("manylinux2014_aarch64", (2, 17)),
    ("manylinux_2_28_x86_64", (2, 28)),
    ("manylinux1_x86_64", (2, 5)),
    ("musllinux_1_2_x86_64", None),
    ("macosx_11_0_arm64", None),
])
def test_glibc_a_wheel_needs(tag, needs):
    assert pkg._glibc(tag) == needs


@pytest.mark.parametrize("attribute,value,expected", [
    ("platform", "darwin", "deployer judge package runs on Linux with CPython only (this is darwin, CPython)"),
])
def test_other_platforms_are_refused_with_what_to_do(monkeypatch, attribute, value, expected):
    monkeypatch.setattr(sys, attribute, value)
    with pytest.raises(UsageError) as info:
        pkg.target()
    assert info.value.message.startswith(expected) and "compiled extensions" in info.value.message
    assert "--zip" in info.value.hint


def test_unknown_machines_and_pythons_are_refused(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    with pytest.raises(UsageError, match="this machine is riscv64; Lambda runs x86_64 or arm64"):
        pkg.target()
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(sys, "version_info", (3, 10, 0))
    with pytest.raises(UsageError, match="this is python3.10; Lambda runs the judge on python3.11, python3.12, python3.13"):
        pkg.target()


def test_musl_is_refused(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    with pytest.raises(UsageError, match="not glibc"):
        pkg.target()


def test_this_machine_builds_for_its_own_python_and_architecture(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert pkg.target() == (f"python3.{sys.version_info.minor}", "arm64")
