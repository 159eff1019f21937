"""CloudWatch in CloudFormation: AWS::CloudWatch::Alarm makes its metric alarm.

AWS (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html):
the template's alarm exists once the stack is; Ref returns its name (AlarmName, or one
CloudFormation generates and keeps across updates), Fn::GetAtt Arn its ARN; an update changes it
in place, a new AlarmName replaces it. moto 5.2.5 has no such resource: the stack skips it with a
warning, no alarm exists and a Ref to it is null, so an ECS service's deployment alarms read
[null, null] and nothing could ever roll it back. Metric-math alarms (`Metrics`) are made without
their queries (moto could not evaluate them anyway).
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.cloudwatch.models import Alarm, cloudwatch_backends
from moto.core.common_models import CloudFormationModel


def _put(account_id: str, region_name: str, name: str, props: dict) -> Alarm:
    def number(key: str, kind=int):
        return kind(props[key]) if props.get(key) not in (None, "") else None

    return cloudwatch_backends[account_id][region_name].put_metric_alarm(
        name=name, namespace=props.get("Namespace"), metric_name=props.get("MetricName"),
        comparison_operator=props.get("ComparisonOperator"), evaluation_periods=number("EvaluationPeriods"),
        period=number("Period"), threshold=number("Threshold", float), statistic=props.get("Statistic"),
        extended_statistic=props.get("ExtendedStatistic"), description=props.get("AlarmDescription"),
        dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in props.get("Dimensions") or []],
        alarm_actions=props.get("AlarmActions") or [], ok_actions=props.get("OKActions") or [],
        insufficient_data_actions=props.get("InsufficientDataActions") or [], unit=props.get("Unit"),
        datapoints_to_alarm=number("DatapointsToAlarm"), actions_enabled=str(props.get("ActionsEnabled", True)).lower() == "true",
        treat_missing_data=props.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=props.get("ThresholdMetricId"), tags=props.get("Tags"))


class StackAlarm(CloudFormationModel):
    """The AWS::CloudWatch::Alarm resource type; the resource itself is moto's Alarm."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                                        **kwargs: Any) -> Alarm:
        return _put(account_id, region_name, resource_name, cloudformation_json.get("Properties") or {})

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Alarm, new_resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> Alarm:
        props = cloudformation_json.get("Properties") or {}
        name = props.get("AlarmName") or original_resource.name  # a generated name stays the alarm's
        if name != original_resource.name:
            cls.delete_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)
        return _put(account_id, region_name, name, props)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


def install() -> None:
    Alarm.physical_resource_id = property(lambda self: self.name)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.alarm_arn
        raise UnformattedGetAttTemplateException()

    Alarm.get_cfn_attribute = get_cfn_attribute
    Alarm.is_created = lambda self: True  # what CreateStack asks of each resource it made (change sets do not)
    parsing.get_model_map.cache_clear()  # StackAlarm is a CloudFormationModel subclass it has to see
    parsing.get_name_type_map.cache_clear()
