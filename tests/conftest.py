from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples_config():
    from deployer.spec import load_config

    return load_config(EXAMPLES / "deployer.yaml")


@pytest.fixture
def example_text():
    return (EXAMPLES / "deployer.yaml").read_text()
