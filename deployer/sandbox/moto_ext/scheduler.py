"""EventBridge Scheduler in CloudFormation: AWS::Scheduler::Schedule makes its schedule.

AWS (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-scheduler-schedule.html):
the template's schedule exists once the stack does, in GroupName (default `default`); Ref returns
its Name (given, or one CloudFormation generates and keeps across updates), Fn::GetAtt Arn its ARN;
a new Name or GroupName replaces it, any other change updates it in place; deleting the stack
deletes it. moto 5.2.5 has no such resource: the stack skips it with a warning and no schedule
exists. Running schedules is not moto's job either: deployer.sandbox.schedule_runner does it.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.scheduler.models import Schedule, scheduler_backends


def _fields(props: dict) -> dict:
    return {
        "description": props.get("Description"), "end_date": props.get("EndDate"), "start_date": props.get("StartDate"),
        "flexible_time_window": props.get("FlexibleTimeWindow") or {"Mode": "OFF"}, "kms_key_arn": props.get("KmsKeyArn"),
        "schedule_expression": props.get("ScheduleExpression"),
        "schedule_expression_timezone": props.get("ScheduleExpressionTimezone"),
        "state": props.get("State") or "ENABLED", "target": dict(props.get("Target") or {}),
    }


class StackSchedule(CloudFormationModel):
    """The AWS::Scheduler::Schedule resource type; the resource itself is moto's Schedule."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                                        **kwargs: Any) -> Schedule:
        props = cloudformation_json.get("Properties") or {}
        return scheduler_backends[account_id][region_name].create_schedule(
            name=resource_name, group_name=props.get("GroupName"), action_after_completion=props.get("ActionAfterCompletion"),
            **_fields(props))

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Schedule, new_resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> Schedule:
        props = cloudformation_json.get("Properties") or {}
        name = props.get("Name") or original_resource.name  # a generated name stays the schedule's
        group = props.get("GroupName") or "default"
        backend = scheduler_backends[account_id][region_name]
        if (name, group) != (original_resource.name, original_resource.group_name):
            backend.delete_schedule(original_resource.group_name, original_resource.name)
            return backend.create_schedule(name=name, group_name=group, action_after_completion=props.get("ActionAfterCompletion"),
                                           **_fields(props))
        return backend.update_schedule(name=name, group_name=group, **_fields(props))


def install() -> None:
    Schedule.physical_resource_id = property(lambda self: self.name)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    def delete(self, account_id: str, region_name: str) -> None:
        """What a stack's deletion (or the resource's removal) calls."""
        scheduler_backends[account_id][region_name].delete_schedule(self.group_name, self.name)

    Schedule.get_cfn_attribute = get_cfn_attribute
    Schedule.delete = delete
    Schedule.is_created = lambda self: True  # what CreateStack asks of each resource it made
    parsing.get_model_map.cache_clear()  # StackSchedule is a CloudFormationModel subclass it has to see
    parsing.get_name_type_map.cache_clear()
    parsing.get_model_list.cache_clear()
