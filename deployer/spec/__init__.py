"""The service spec: `deployer.yaml` -> validated, typed objects. Pure apart from reading the file."""

from deployer.spec.loader import DEFAULT_FILE, load_config, load_service, parse_config
from deployer.spec.models import DeployerConfig, Service

__all__ = ["DEFAULT_FILE", "DeployerConfig", "Service", "load_config", "load_service", "parse_config"]
