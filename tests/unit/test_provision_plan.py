"""Provisioning decisions: live values become parameters (never revert a release), diffs read well."""

import pytest

from deployer.errors import InconsistentState
from deployer.provision.diff import change_rows, parameter_lines, template_diff
from deployer.provision.live import ColorState, LiveState, stack_parameters


def test_first_create_starts_on_blue(examples_config):
    params = stack_parameters(examples_config.services["web"], LiveState())
    assert params == {
        "ImageUri": "example/web:1",
        "BlueTaskDefinitionArn": "",
        "BlueDesiredCount": "2",
        "BlueWeight": "100",
        "GreenTaskDefinitionArn": "",
        "GreenDesiredCount": "0",
        "GreenWeight": "0",
        "TestListenerColor": "green",
    }


def test_update_keeps_what_a_release_set(examples_config):
    """After a promoted canary green is live at rev 7 with 100%; provision must pass exactly that back."""
    live = LiveState(
        stack_exists=True,
        colors={
            "blue": ColorState("arn:aws:ecs:us-east-1:123456789012:task-definition/web:6", 0, 0),
            "green": ColorState("arn:aws:ecs:us-east-1:123456789012:task-definition/web:7", 3, 100),
        },
        test_listener_color="blue",
    )
    params = stack_parameters(examples_config.services["web"], live)
    assert params["GreenTaskDefinitionArn"].endswith("web:7")
    assert params["BlueTaskDefinitionArn"].endswith("web:6")
    assert (params["GreenDesiredCount"], params["GreenWeight"]) == ("3", "100")
    assert (params["BlueDesiredCount"], params["BlueWeight"]) == ("0", "0")
    assert params["TestListenerColor"] == "blue"


def test_rolling_service_keeps_its_revision_and_count(examples_config):
    live = LiveState(stack_exists=True, colors={"main": ColorState("arn:aws:ecs:...:task-definition/worker-web:12", 6, None)})
    params = stack_parameters(examples_config.services["worker-web"], live)
    assert params == {"ImageUri": "example/worker-web:1", "TaskDefinitionArn": "arn:aws:ecs:...:task-definition/worker-web:12", "DesiredCount": "6"}


def test_refuses_to_write_back_traffic_pointing_nowhere(examples_config):
    live = LiveState(stack_exists=True, colors={"blue": ColorState("a", 2, 0), "green": ColorState("b", 2, 0)})
    with pytest.raises(InconsistentState) as info:
        stack_parameters(examples_config.services["web"], live)
    assert "every live traffic weight is 0" in info.value.message
    assert info.value.exit_code == 4


def test_change_rows_sorted_and_rendered():
    changes = [
        {"ResourceChange": {"Action": "Modify", "LogicalResourceId": "Listener", "ResourceType": "AWS::ElasticLoadBalancingV2::Listener",
                            "Replacement": "False", "Details": [{"Target": {"Attribute": "Properties", "Name": "Port"}}]}},
        {"ResourceChange": {"Action": "Add", "LogicalResourceId": "Alarm", "ResourceType": "AWS::CloudWatch::Alarm"}},
        {"ResourceChange": {"Action": "Remove", "LogicalResourceId": "Old", "ResourceType": "AWS::SNS::Topic"}},
        {"ResourceChange": {"Action": "Modify", "LogicalResourceId": "BlueTargetGroup", "ResourceType": "AWS::ElasticLoadBalancingV2::TargetGroup",
                            "Replacement": "True", "Details": [{"Target": {"Attribute": "Properties", "Name": "Port"}}]}},
    ]
    assert [r.line() for r in change_rows(changes)] == [
        "+ Add     Alarm (AWS::CloudWatch::Alarm)",
        "~ Modify  BlueTargetGroup (AWS::ElasticLoadBalancingV2::TargetGroup) [Port]  REPLACEMENT: True",
        "~ Modify  Listener (AWS::ElasticLoadBalancingV2::Listener) [Port]",
        "- Remove  Old (AWS::SNS::Topic)",
    ]


def test_parameter_lines_show_only_changes():
    assert parameter_lines({"A": "1", "B": "2", "C": "x"}, {"A": "1", "B": "3", "D": "y"}) == [
        "~ B: '2' -> '3'",
        "- C (was 'x')",
        "+ D = 'y'",
    ]


def test_template_diff_ignores_key_order():
    old = {"Resources": {"A": {"Type": "X", "Properties": {"p": 1, "q": 2}}}}
    same = {"Resources": {"A": {"Properties": {"q": 2, "p": 1}, "Type": "X"}}}
    assert template_diff(old, same) == []
    changed = {"Resources": {"A": {"Properties": {"q": 3, "p": 1}, "Type": "X"}}}
    diff = template_diff(old, changed)
    assert '-        "q": 2' in diff and '+        "q": 3' in diff


def test_template_own_revision_is_passed_as_empty(examples_config):
    """Until a release registers its own revision, the parameter stays "" so provisions stay no-ops."""
    own = "arn:aws:ecs:us-east-1:123456789012:task-definition/worker-web:1"
    live = LiveState(stack_exists=True, colors={"main": ColorState(own, 4, None)}, template_task_definition=own)
    assert stack_parameters(examples_config.services["worker-web"], live)["TaskDefinitionArn"] == ""
