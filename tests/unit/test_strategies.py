"""One strategy registry: every place that lists strategies agrees with it; `linear` plans from it."""

from __future__ import annotations

import re

import pytest
import yaml

from deployer.errors import ConfigError, UsageError
from deployer.release import strategies
from deployer.release.plan import ColorState, Observed
from deployer.release.steps import Bake, Gate, Pause, ShiftTraffic
from deployer.release.strategies import plan_release, request_from_spec
from deployer.spec import parse_config
from deployer.spec.models import Release, convert
from tests.conftest import ROOT

TD1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
BLUE_LIVE = Observed({"blue": ColorState(TD1, 2, 100), "green": ColorState(TD1, 0, 0)})
NAMES = ("rolling", "canary", "bluegreen", "linear")


def test_every_module_of_the_package_is_a_strategy_named_once():
    assert strategies.names() == NAMES
    modules = {p.stem for p in (ROOT / "deployer/release/strategies").glob("*.py")} - {"__init__", "base", "shifts"}
    assert modules == set(NAMES)
    assert {s.name: s.two_colors for s in strategies.registry().values()} == {
        "rolling": False, "canary": True, "bluegreen": True, "linear": True}


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(UsageError, match="unknown strategy 'stepwise': expected one of rolling, canary, bluegreen, linear"):
        strategies.get("stepwise")


def test_the_spec_allows_exactly_the_registry():
    for name in NAMES:
        assert convert({"strategy": name}, Release).strategy == name
    with pytest.raises(ValueError, match="expected 'rolling', 'canary', 'bluegreen' or 'linear'"):
        convert({"strategy": "stepwise"}, Release)
    from deployer.spec.schema import json_schema

    assert json_schema()["$defs"]["Release"]["properties"]["strategy"]["enum"] == list(NAMES)


def test_a_strategy_with_options_has_its_block_in_the_spec_and_every_block_has_a_strategy():
    """Options are checked where all input is checked (the spec); a block is named after its strategy."""
    declared = {s.options for s in strategies.registry().values() if s.options}
    assert declared == {"rolling", "linear"}
    assert set(Release.__struct_fields__) & set(NAMES) == declared


def test_cli_choices_are_the_registry():
    from deployer.cli import cli

    option = next(p for p in cli.get_command(None, "release").params if p.name == "strategy")
    assert tuple(option.type.choices) == NAMES


def test_webhook_config_allows_exactly_the_registry():
    from deployer.ci.hooks_config import HookRelease

    for name in NAMES:
        assert HookRelease(service="web", image="r/web:{tag}", strategy=name).strategy == name
    with pytest.raises(ValueError, match="expected 'rolling', 'canary', 'bluegreen' or 'linear'"):
        HookRelease(service="web", image="r/web:{tag}", strategy="stepwise")


@pytest.mark.parametrize("path,key", [
    ("pipelines/github/action.yml", ("inputs", "strategy", "description")),
    ("pipelines/github/workflows/deployer-release.yml", (True, "workflow_call", "inputs", "strategy", "description")),
])
def test_github_documents_every_strategy(path, key):
    node = yaml.safe_load((ROOT / path).read_text())
    for k in key:
        node = node[k]
    assert node == "rolling, canary, bluegreen or linear (default: the spec's)."


def test_jenkins_step_documents_every_strategy():
    text = (ROOT / "pipelines/jenkins/vars/deployerRelease.txt").read_text()
    line = next(line for line in text.splitlines() if "<code>strategy</code>" in line)
    assert re.findall(r"<dd>(.*?) \(default", line)[0] == "<code>rolling</code>, <code>canary</code>, <code>bluegreen</code> or <code>linear</code>"


def test_the_scaffolded_workflow_lists_the_registry():
    from deployer.ci.scaffold import strategies_text

    assert strategies_text() == "rolling, canary, bluegreen or linear"


# linear

def web(extra: str = "") -> object:
    text = (ROOT / "examples/deployer.yaml").read_text()
    if extra:
        text = text.replace("    release:\n      strategy: canary\n", f"    release:\n      strategy: canary\n{extra}", 1)
    return parse_config(text).services["web"]


def test_linear_weights_in_equal_steps_each_baked_and_gated():
    service = web("      linear: {step_percent: 30, step_bake: 45s}\n")
    plan = plan_release(service, BLUE_LIVE, request_from_spec(service, "example/web:2", "linear"))
    shifts = [dict(s.weights)["green"] for s in plan.steps if isinstance(s, ShiftTraffic)]
    assert plan.strategy == "linear" and shifts == [30, 60, 90, 100]
    assert [s.seconds for s in plan.steps if isinstance(s, Bake)] == [45] * 4
    gates = [s for s in plan.steps if isinstance(s, Gate)]
    assert [(g.weight, g.baseline) for g in gates] == [(30, "blue"), (60, "blue"), (90, "blue"), (100, None)]
    assert all(g.limits.max_5xx_rate == service.release.gates.max_5xx_rate for g in gates)


def test_linear_defaults_and_its_bake_from_release():
    service = web()
    request = request_from_spec(service, "example/web:2", "linear")
    assert request.steps == (20, 40, 60, 80, 100) and request.bake == service.release.bake
    assert request_from_spec(web("      linear: {step_percent: 100}\n"), "w:2", "linear").steps == (100,)


def test_linear_takes_a_pause_but_not_explicit_steps():
    service = web()
    assert request_from_spec(service, "w:2", "linear", pause_after=40).steps == (20, 40, "pause", 60, 80, 100)
    plan = plan_release(service, BLUE_LIVE, request_from_spec(service, "w:2", "linear", pause_after=40))
    assert any(isinstance(s, Pause) for s in plan.steps)
    with pytest.raises(UsageError, match="--steps: linear sets its own weights"):
        request_from_spec(service, "w:2", "linear", steps=(10, 100))


def test_linear_needs_two_colors():
    worker = parse_config((ROOT / "examples/deployer.yaml").read_text()).services["worker-web"]
    with pytest.raises(UsageError, match="worker-web has one ECS service .*; linear needs blue and green"):
        request_from_spec(worker, "w:2", "linear")
    with pytest.raises(UsageError, match="use --strategy canary, bluegreen, linear"):
        request_from_spec(web(), "w:2", "rolling")


@pytest.mark.parametrize("block,message", [
    ("{step_percent: 0}", "services.web.release.linear.step_percent: "),
    ("{step_percent: 101}", "services.web.release.linear.step_percent: "),
    ("{step_bake: soon}", "services.web.release.linear.step_bake: expected a duration"),
    ("{steps: 5}", "services.web.release.linear.steps: "),
])
def test_linear_options_are_checked_with_the_field_named(block, message):
    text = (ROOT / "examples/deployer.yaml").read_text().replace(
        "    release:\n      strategy: canary\n", f"    release:\n      strategy: linear\n      linear: {block}\n", 1)
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert message in str(info.value)
