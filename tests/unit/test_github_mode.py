"""GitHub Actions mode: workflow commands, outputs and the step summary (golden file)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from deployer.errors import RolledBack
from deployer.release import service as releases
from deployer.release.strategies import request_from_spec
from deployer.release.report import report
from deployer.reporting import github
from tests.fakes import Behaviour, FakeClock, FakeTarget
from tests.unit.test_executor import make

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "github-summary.md"


def rolled_back_report(examples_config) -> dict:
    web, clock = examples_config.services["web"], FakeClock()
    ex = make(web, FakeTarget.colors_service(clock, behaviour={"example/web:3": Behaviour(error_rate=0.20)}), clock)
    with pytest.raises(RolledBack):
        releases.release(ex, request_from_spec(web, "example/web:3"), actor="tester")
    record = ex.journal.latest("web")
    record.id = "20270101T000000Z-golden"
    return report(record)


def read_outputs(text: str) -> dict[str, str]:
    """Parse GITHUB_OUTPUT's `name<<DELIM ... DELIM` blocks, as the runner does."""
    found = {}
    for name, delimiter, value in re.findall(r"^([\w-]+)<<(\S+)\n(.*?)\n\2$", text, flags=re.S | re.M):
        found[name] = value
    return found


def test_summary_matches_golden(examples_config):
    text = github.summary_markdown(rolled_back_report(examples_config))
    if os.environ.get("DEPLOYER_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_publish_writes_outputs_and_summary(examples_config, tmp_path):
    data = rolled_back_report(examples_config)
    out, summary = tmp_path / "output", tmp_path / "summary"
    out.write_text("earlier=1\n")
    github.publish(data, {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)})
    values = read_outputs(out.read_text())
    assert out.read_text().startswith("earlier=1\n")  # appended, never overwritten
    assert values["result"] == "rolled_back" and values["release-id"] == "20270101T000000Z-golden"
    assert values["rollback-reason"].startswith("error_rate_above_limit")
    assert values["task-definition-arn"] == "web:2" and values["previous-task-definition-arn"] == "web:1"
    assert "| step | weight | duration | requests | 5xx | p99 | verdict |" in summary.read_text()


def test_publish_without_runner_files_writes_nothing(examples_config, tmp_path):
    github.publish(rolled_back_report(examples_config), {})
    assert list(tmp_path.iterdir()) == []


def test_multiline_value_cannot_forge_an_output():
    text = github.output_lines({"rollback-reason": "bad\nresult<<X\nreleased\nX"}, "deployer_abc")
    assert read_outputs(text) == {"rollback-reason": "bad\nresult<<X\nreleased\nX"}
    with pytest.raises(ValueError):
        github.output_lines({"x": "a deployer_abc b"}, "deployer_abc")


def test_escaping():
    assert github.escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert github.escape_property("a:b,c") == "a%3Ab%2Cc"


def test_progress_groups_errors_and_fences_ecs_events(capsys):
    progress = github.GithubProgress()
    progress.step(1, 3, "shift weights 10%")
    progress.untrusted("    ecs: ::set-output name=result::released")
    progress.verdict("10%", {"outcome": "FAIL", "reason": "error_rate_above_limit", "detail": "canary 5xx 20% > 5%"})
    progress.step(2, 3, "restore")
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "::group::[1/3] shift weights 10%25"
    start = next(i for i, line in enumerate(lines) if line.startswith("::stop-commands::"))
    token = lines[start].split("::")[2]
    assert len(token) >= 32 and lines[start + 1] == "    ecs: ::set-output name=result::released"
    assert lines[start + 2] == f"::{token}::"
    assert "::error title=Gate failed at 10%25::error_rate_above_limit: canary 5xx 20%25 > 5%25" in lines
    assert lines.count("::endgroup::") == 2 and lines[-1] == "::endgroup::"


def test_cli_publishes_in_github_mode(examples_config, tmp_path, monkeypatch, capsys):
    from deployer.cli.factory import Factory
    from deployer.cli.release_cmds import _finish
    from deployer.release.journal import MemoryJournal

    data = rolled_back_report(examples_config)
    out, summary = tmp_path / "output", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    journal = MemoryJournal()

    from deployer.release.record import ReleaseRecord

    record = ReleaseRecord.from_json(__import__("json").dumps({"id": data["release_id"], "service": "web", "strategy": "canary",
                                                               "image": "example/web:2", "actor": "t", "started_at": 1.0,
                                                               "plan": {}, "state": "released", "finished_at": 2.0}))
    executor = type("Executor", (), {"journal": journal, "progress": github.GithubProgress()})()
    _finish(Factory(Path("deployer.yaml"), github=True), "web", executor, lambda: record)
    assert read_outputs(out.read_text())["result"] == "released"
    assert summary.read_text().startswith("### ✅ deployer: web canary — released")
