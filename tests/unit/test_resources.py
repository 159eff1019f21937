"""The example app, images, spec and pipeline templates ship inside the package (deployer/resources.py).

One copy: deployer/_data/examples and deployer/_data/templates are symlinks to the top-level
examples/ and templates/. These checks keep it so, keep pyproject.toml's package-data covering
every file (scripts/wheel_check.sh builds the wheel and runs it), and keep run-time code from
looking for the repository.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from deployer import resources
from deployer.ci import scaffold
from deployer.sandbox import control

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "deployer"
SHIPPED = ("examples", "templates")


def _files(top: Path) -> dict[str, bytes]:
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in sorted(top.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_package_data_is_the_top_level_folders_not_a_copy():
    for name in SHIPPED:
        link = PACKAGE / "_data" / name
        assert link.is_symlink(), f"{link} must stay a symlink to ../../{name} (one copy)"
        assert os.readlink(link) == f"../../{name}"
        assert link.resolve() == (ROOT / name).resolve()
        assert _files(resources.data(name)) == _files(ROOT / name)


def test_pyproject_ships_every_file_and_no_data_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "deployer._data*" in config["packages"]["find"]["exclude"]
    included = {Path(p).relative_to(PACKAGE).as_posix()
                for pattern in config["package-data"]["deployer"]
                for p in glob.glob(str(PACKAGE / pattern), recursive=True) if Path(p).is_file()}
    excluded = config.get("exclude-package-data", {}).get("deployer", [])
    included = {p for p in included if not any(fnmatch(p, pattern) for pattern in excluded)}
    wanted = {f"_data/{name}/{rel}" for name in SHIPPED for rel in _files(ROOT / name)}
    assert wanted <= included, f"not shipped: {sorted(wanted - included)}"
    assert included <= wanted | {p for p in included if not p.startswith("_data/")}


def test_run_time_code_reads_shipped_files_through_resources():
    assert control.DEFAULT_APP == resources.data("examples", "app", "app.py") and control.DEFAULT_APP.is_file()
    assert control.DEFAULT_IMAGES.is_file() and control.DEFAULT_SPEC.is_file()
    assert scaffold.TEMPLATES == resources.data("templates") and scaffold.TEMPLATES.is_dir()
    assert resources.require("templates", "jenkins", "Jenkinsfile.j2").is_file()


def test_no_module_looks_for_the_repository():
    pattern = re.compile(r"parents\[\d\]|parent\.parent\.parent|\bREPO\b|\bROOT\b")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in PACKAGE.rglob("*.py") if "_data" not in p.parts
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
