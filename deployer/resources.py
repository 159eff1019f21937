"""The files deployer ships inside its package: the example app, the sandbox's image behaviours,
the example spec and hooks.yaml (`examples/`), and the pipeline templates (`templates/`).

They live once, in the repository's top-level `examples/` and `templates/` (what readers and the
README point at); `deployer/_data/examples` and `deployer/_data/templates` are symlinks to them, and
a wheel carries the files themselves (package-data in pyproject.toml). Everything reads them
through `data()`, which works the same from a source checkout (editable install) and from an
installed wheel: nothing looks for the repository at run time.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from deployer.errors import DeployerError


def data(*parts: str) -> Path:
    """The path of a shipped file or folder, e.g. `data("examples", "app", "app.py")`.

    A real path (the sandbox starts the example app as a process, jinja2 loads templates from a
    folder): deployer must be installed as files, as pip does, not imported from a zip archive."""
    root = files("deployer") / "_data"
    if not isinstance(root, Path):
        raise DeployerError(f"deployer's package data is not on the file system ({root})",
                            hint="install deployer-ecs with pip (not as a zip archive)")
    return root.joinpath(*parts)


def require(*parts: str) -> Path:
    """`data(*parts)`, or a clear error if the install lacks it."""
    path = data(*parts)
    if not path.exists():
        raise DeployerError(f"{path}: missing from deployer's package data",
                            hint="reinstall deployer-ecs (a wheel or `pip install -e .` from a checkout)")
    return path
