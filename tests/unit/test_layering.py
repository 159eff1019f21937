"""Who may talk to AWS: boto3 and botocore are imported under deployer/aws/ only; pure modules import no I/O."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "deployer"


def imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_boto3_is_imported_under_deployer_aws_only():
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if "aws" not in path.relative_to(PACKAGE).parts[:1] and imported_modules(path) & {"boto3", "botocore"}
    )
    assert offenders == []


def test_pure_release_modules_do_no_io():
    pure = ["plan.py", "steps.py", "gates.py", "preflight.py", "report.py", "record.py", "metric_verdict.py",
            *(f"strategies/{p.name}" for p in (PACKAGE / "release" / "strategies").glob("*.py")),
            *(f"sources/{p.name}" for p in (PACKAGE / "release" / "sources").glob("*.py"))]
    io = {"boto3", "botocore", "urllib", "http", "socket", "subprocess", "requests"}
    leaks = {name: sorted(imported_modules(PACKAGE / "release" / name) & io) for name in pure}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_release_engine_modules_stay_small():
    """One concern per file: the executor runs steps; handlers/ holds what each step does."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (PACKAGE / "release").rglob("*.py")}
    assert {k: v for k, v in sizes.items() if v > 300} == {}
