"""CloudFormation: a stack executed from a change set has its outputs, parameters and exports.

AWS: after ExecuteChangeSet completes, DescribeStacks returns the stack's Outputs and the
Parameters the change set was created with; its exported outputs are listed by ListExports and
other stacks' Fn::ImportValue resolve them. moto 5.2.5 keeps the outputs of the empty stack
it made at CreateChangeSet (none) and the parameters of the first change set, registers exports
only for CreateStack, and resolves Fn::ImportValue only in stacks made by CreateStack.

A change set whose template and effective parameter values (defaults filled in) equal the stack's
has no changes on AWS; moto 5.2.5 compares the parameters as given, so naming a default that was
left out before made an empty update instead.
"""

from __future__ import annotations

from moto.cloudformation.models import CloudFormationBackend, Stack


def _effective(stack: Stack, parameters: dict) -> dict[str, str]:
    defaults = {k: str(v["Default"]) for k, v in (stack.template_dict.get("Parameters") or {}).items() if "Default" in v}
    return {**defaults, **{k: str(v) for k, v in parameters.items()}}


def install() -> None:
    original = CloudFormationBackend.execute_change_set
    Stack.has_parameters = lambda self, other: _effective(self, self.parameters) == _effective(self, other)

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        stack.cross_stack_resources = stack.resource_map.cross_stack_resources = self.exports
        original(self, change_set_name, stack_name)
        stack.parameters = change_set.parameters
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
            del self.exports[name]
        for export in stack.exports:
            self.exports[export.name] = export

    CloudFormationBackend.execute_change_set = execute_change_set
