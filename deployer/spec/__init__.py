"""The service spec: `deployer.yaml` -> validated, typed objects. Pure apart from reading the file.

The names below load on first use, so that a light submodule (`deployer.spec.units`) does not
bring msgspec and YAML with it: `deployer --help` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployer.spec.loader import DEFAULT_FILE, load_config, load_service, parse_config
    from deployer.spec.models import DeployerConfig, Service

_HOMES = {"DEFAULT_FILE": "loader", "load_config": "loader", "load_service": "loader", "parse_config": "loader",
          "DeployerConfig": "models", "Service": "models"}
__all__ = ["DEFAULT_FILE", "DeployerConfig", "Service", "load_config", "load_service", "parse_config"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
