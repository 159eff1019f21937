"""CloudFormation: a stack executed from a change set has its outputs and parameters.

AWS: after ExecuteChangeSet completes, DescribeStacks returns the stack's Outputs and the
Parameters the change set was created with. moto 5.2.5 keeps the outputs of the empty stack
it made at CreateChangeSet (none) and the parameters of the first change set.
"""

from __future__ import annotations

from moto.cloudformation.models import CloudFormationBackend


def install() -> None:
    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        original(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        stack.parameters = change_set.parameters
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set
