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


# The suite on two workers (scripts/dev.sh test: pytest -n 2): the e2e tier in two lanes, each
# with a sandbox of its own. The fault module (four releases at once, the heaviest load) and the
# latency-sensitive release module share a lane, so they never run at the same time (about 9
# minutes on 2 cores); the other e2e modules make the second lane (about 4), and each functional
# or unit test file goes to whichever worker is free.
HEAVY_LANE = ("tests/e2e/test_faults.py", "tests/e2e/test_releases.py")


@pytest.hookimpl(optionalhook=True)  # a plain `pytest` (without xdist) runs as well
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "heavy" if path in HEAVY_LANE else "e2e" if path.startswith("tests/e2e/") else path

    return Lanes(config, log)
