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


# The suite on two workers (scripts/dev.sh test: pytest -n 2): two lanes, one per worker, each e2e
# module whole in its lane, each lane with a sandbox of its own. The fault module (four releases at
# once, the heaviest load) and the latency-sensitive release module share a lane, so they never run
# at the same time; the other lane has the rest (about 7 and 7 minutes on 2 cores).
HEAVY_LANE = ("tests/e2e/test_faults.py", "tests/e2e/test_releases.py")


@pytest.hookimpl(optionalhook=True)  # a plain `pytest` (without xdist) runs as well
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "heavy" if nodeid.split("::", 1)[0] in HEAVY_LANE else "rest"

    return Lanes(config, log)
