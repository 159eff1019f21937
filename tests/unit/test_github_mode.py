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
    from deployer.release.memory_journal import MemoryJournal

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


# ---------------------------------------------------------------- trains
TRAIN_GOLDEN = GOLDEN.parent / "github-train-summary.md"


def released_report(examples_config, name: str, image: str, release_id: str) -> dict:
    service, clock = examples_config.services[name], FakeClock()
    ex = make(service, FakeTarget.colors_service(clock, behaviour={image: Behaviour(0.01, 100)}), clock)
    releases.release(ex, request_from_spec(service, image), actor="tester")
    record = ex.journal.latest(name)
    record.id = release_id
    return report(record)


def train_report(examples_config) -> dict:
    """The JSON report of a train run as `deployer -o json train release` gives it: api (wave 1)
    released and kept (on_failure: stop), web (wave 2) failed its gate, worker-web (wave 3) never started."""
    api = released_report(examples_config, "api", "example/api:2", "20270101T000000Z-api")
    web = rolled_back_report(examples_config)
    return {
        "result": "rolled_back", "exit_code": 3, "id": "20270101T000000Z-train", "train": "storefront",
        "state": "rolled_back", "actor": "tester", "wave": 2, "started_at": 1000.0, "finished_at": 1100.5,
        "reason": f"web: {web['rollback_reason']}",
        "members": {
            "api": {"wave": 1, "state": "kept", "image": "example/api:2", "release_id": api["release_id"], "report": api},
            "worker-web": {"wave": 3, "state": "pending", "image": "example/worker-web:2", "release_id": ""},
            "web": {"wave": 2, "state": "failed", "image": "example/web:3", "release_id": web["release_id"],
                    "reason": web["rollback_reason"], "report": web},
        },
    }


def test_train_summary_matches_golden(examples_config):
    text = github.train_summary_markdown(train_report(examples_config))
    if os.environ.get("DEPLOYER_UPDATE_GOLDEN") == "1":
        TRAIN_GOLDEN.write_text(text)
    assert text == TRAIN_GOLDEN.read_text()


def test_train_summary_has_a_section_per_member_in_wave_order(examples_config):
    text = github.train_summary_markdown(train_report(examples_config))
    assert text.startswith("### ↩️ deployer train: storefront — rolled_back\n")
    assert "**Halted by web:** web: error_rate_above_limit" in text
    sections = [line for line in text.splitlines() if line.startswith("#### ")]
    assert [s.split(" · ")[1].split(" ")[0] for s in sections] == ["api", "web", "worker-web"]  # wave order
    assert text.count("| step | weight | duration | requests | 5xx | p99 | verdict |") == 2  # a table per member with a report
    assert sections[-1] == "#### ⏳ wave 3 · worker-web — pending: not started"  # one line
    assert "(its bluegreen release: released)" in sections[0] and "(its canary release: rolled_back)" in sections[1]


def test_train_outputs(examples_config):
    values = github.train_outputs(train_report(examples_config))
    assert set(values) == {"result", "train-id", "reason", "halted-by", "members"} == set(github.TRAIN_OUTPUT_NAMES)
    assert values["result"] == "rolled_back" and values["train-id"] == "20270101T000000Z-train"
    assert values["reason"].startswith("web: error_rate_above_limit") and values["halted-by"] == "web"
    assert "\n" not in values["members"]  # compact
    assert __import__("json").loads(values["members"]) == {
        "api": {"state": "kept", "release_id": "20270101T000000Z-api"},
        "web": {"state": "failed", "release_id": "20270101T000000Z-golden"},
        "worker-web": {"state": "pending", "release_id": ""},
    }


def test_train_outputs_released_interrupted_locked_and_dry_run():
    released = {"result": "released", "id": "t-1", "train": "storefront", "reason": "",
                "members": {"api": {"wave": 1, "state": "released", "release_id": "r-1"}}}
    assert github.train_outputs(released) == {"result": "released", "train-id": "t-1", "reason": "", "halted-by": "",
                                              "members": '{"api":{"state":"released","release_id":"r-1"}}'}
    interrupted = {"result": "interrupted", "id": "t-2", "train": "storefront", "reason": "stopped by a signal",
                   "members": {"api": {"wave": 1, "state": "stopped", "release_id": "r-2"}}}
    assert github.train_outputs(interrupted)["halted-by"] == ""
    assert "**Stopped:** stopped by a signal" in github.train_summary_markdown(interrupted)
    locked = {"result": "locked", "exit_code": 6, "train": "storefront", "message": "train: web is locked by ci-1"}
    assert github.train_outputs(locked) == {"result": "locked", "train-id": "", "reason": "train: web is locked by ci-1",
                                            "halted-by": "", "members": "{}"}
    assert github.train_summary_markdown(locked).startswith("### 🔒 deployer train: storefront — locked")
    dry = {"result": "noop", "dry_run": True, "estimate_seconds": 600,
           "plan": {"train": "storefront", "on_failure": "rollback_all", "waves": [
               [{"service": "api", "image": "r/api:2", "strategy": "bluegreen", "estimated_seconds": 300}],
               [{"service": "web", "image": "r/web:2", "strategy": "canary", "estimated_seconds": 300}]]}}
    assert github.train_outputs(dry)["result"] == "noop"
    text = github.train_summary_markdown(dry)
    assert text.startswith("### 📝 deployer train: storefront — noop (dry run)")
    assert "| 2 | web | canary | `r/web:2` | 5m00s |" in text and "on failure: rollback all" in text


def test_halted_by_is_the_failed_member_the_reason_names():
    data = {"result": "failed", "reason": "web: canary_unhealthy",
            "members": {"api": {"wave": 1, "state": "failed"}, "web": {"wave": 1, "state": "failed"}}}
    assert github.train_outputs(data)["halted-by"] == "web"
    data["reason"] = "something else"
    assert github.train_outputs(data)["halted-by"] == "api"


def test_publish_train_writes_outputs_and_summary(examples_config, tmp_path):
    out, summary = tmp_path / "output", tmp_path / "summary"
    out.write_text("earlier=1\n")
    github.publish_train(train_report(examples_config), {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)})
    assert out.read_text().startswith("earlier=1\n")  # appended, never overwritten
    values = read_outputs(out.read_text())
    assert values["halted-by"] == "web" and values["train-id"] == "20270101T000000Z-train"
    assert summary.read_text().startswith("### ↩️ deployer train: storefront")
    github.publish_train(train_report(examples_config), {})  # no runner files: nothing to do
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output", "summary"]
