"""The alarms an ECS deployment watches, made by CloudFormation as the deployer's templates make them.

AWS: AWS::CloudWatch::Alarm makes its metric alarm; Ref is its name (generated when AlarmName is not
given, and kept across updates), Fn::GetAtt Arn its ARN; deleting the stack deletes it. So an ECS
service's DeploymentConfiguration.Alarms.AlarmNames, written as Refs, name real alarms.
"""

from __future__ import annotations

from tests.functional.conftest import client
from tests.functional.test_moto_ext import create_stack_by_change_set


def template(threshold: int) -> dict:
    return {
        "Resources": {"Errors": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": "web green: target 5xx", "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count",
            "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/1"}, {"Name": "TargetGroup", "Value": "targetgroup/green/2"}],
            "Statistic": "Sum", "Period": 10, "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}},
            "Slow": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "AlarmName": "web-green-p99", "Namespace": "AWS/ApplicationELB", "MetricName": "TargetResponseTime",
                "Dimensions": [{"Name": "TargetGroup", "Value": "targetgroup/green/2"}], "ExtendedStatistic": "p99",
                "EvaluateLowSampleCountPercentile": "ignore", "Period": 60, "EvaluationPeriods": 1, "Threshold": 0.5,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold"}}},
        "Outputs": {"Name": {"Value": {"Ref": "Errors"}}, "Arn": {"Value": {"Fn::GetAtt": ["Errors", "Arn"]}},
                    "Slow": {"Value": {"Ref": "Slow"}}},
    }


def test_a_stack_makes_updates_and_deletes_its_alarms(aws):
    cfn, cloudwatch = client("cloudformation"), client("cloudwatch")
    create_stack_by_change_set("alarms", template(5))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="alarms")["Stacks"][0]["Outputs"]}
    assert outputs["Name"].startswith("alarms-Errors-") and outputs["Slow"] == "web-green-p99"
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[outputs["Name"]])["MetricAlarms"]
    assert alarm["AlarmArn"] == outputs["Arn"] and alarm["StateValue"] == "OK"
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"]) == ("Sum", 10, 3, 2, 5.0)
    assert alarm["Dimensions"] == [{"Name": "LoadBalancer", "Value": "app/web/1"}, {"Name": "TargetGroup", "Value": "targetgroup/green/2"}]
    (slow,) = cloudwatch.describe_alarms(AlarmNames=["web-green-p99"])["MetricAlarms"]
    assert (slow["ExtendedStatistic"], slow["EvaluateLowSampleCountPercentile"]) == ("p99", "ignore")

    create_stack_by_change_set("alarms", template(9), change_type="UPDATE")
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[outputs["Name"]])["MetricAlarms"]
    assert alarm["Threshold"] == 9.0  # the same alarm, its generated name kept
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 2

    cfn.delete_stack(StackName="alarms")
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
