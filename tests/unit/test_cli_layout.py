"""One CLI module per command group, commands at module level, the root group only wires them."""

from __future__ import annotations

import ast

from deployer.cli import cli
from tests.conftest import ROOT

COMMANDS = {"abort", "bootstrap", "history", "pipelines", "promote", "provision", "release", "resume", "rollback", "sandbox",
            "schema", "status", "synth", "tidy", "train", "validate", "wait", "webhook", "judge"}


def test_the_root_group_has_every_command_and_defines_none_of_them():
    assert set(cli.list_commands(None)) == COMMANDS
    homes = {name: cli.get_command(None, name).callback.__module__ for name in COMMANDS}
    assert all(home.startswith("deployer.cli.") and home != "deployer.cli" for home in homes.values()), homes
    assert {homes[n] for n in ("validate", "schema", "synth")} == {"deployer.cli.spec_cmds"}
    assert {homes[n] for n in ("bootstrap", "provision")} == {"deployer.cli.stack_cmds"}


def test_no_command_is_built_inside_a_function():
    for path in (ROOT / "deployer/cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        assert "register" not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node not in tree.body:
                decorators = [ast.unparse(d) for d in node.decorator_list]
                assert not any(".command" in d or ".group" in d for d in decorators), f"{path.name}: {node.name} is nested"
