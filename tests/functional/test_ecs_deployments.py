"""The ECS service-deployment adapter against botocore's own model: moto 5.2.5 has none of these
calls, so botocore's Stubber checks every request's parameters (names, types, enums) against the
ECS model as it would before sending, and answers with the shapes ECS documents."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from deployer.aws.ecs_deployments import EcsDeployments
from deployer.errors import AwsError, NotFound

ARN = "arn:aws:ecs:us-east-1:123456789012:service-deployment/demo/checkout/AbCdEf123"
SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/demo/checkout"
REVISION = "arn:aws:ecs:us-east-1:123456789012:service-revision/demo/checkout/9876543210"
AT = datetime(2026, 12, 3, 14, 0, tzinfo=timezone.utc)


@pytest.fixture
def stubbed():
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield EcsDeployments(client, sleep=lambda s: None), stubber
        stubber.assert_no_pending_responses()


def deployment(**extra) -> dict:
    return {"serviceDeploymentArn": ARN, "serviceArn": SERVICE, "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/demo",
            "createdAt": AT, "status": "IN_PROGRESS",
            "targetServiceRevision": {"arn": REVISION, "requestedTaskCount": 2, "runningTaskCount": 2, "pendingTaskCount": 0,
                                      "requestedProductionTrafficWeight": 10.0, "requestedTestTrafficWeight": 100.0},
            **extra}


def test_start_sends_only_the_revision(stubbed):
    adapter, stubber = stubbed
    stubber.add_response("update_service", {"service": {"serviceName": "checkout"}},
                         {"cluster": "demo", "service": "checkout", "taskDefinition": "checkout:7"})
    adapter.start("demo", "checkout", "checkout:7")


def test_current_reads_the_service_then_falls_back_to_the_list(stubbed):
    adapter, stubber = stubbed
    stubber.add_response("describe_services", {"services": [{"serviceName": "checkout", "currentServiceDeployment": ARN}]},
                         {"cluster": "demo", "services": ["checkout"]})
    assert adapter.current("demo", "checkout") == ARN
    stubber.add_response("describe_services", {"services": [{"serviceName": "checkout"}]}, {"cluster": "demo", "services": ["checkout"]})
    stubber.add_response("list_service_deployments", {"serviceDeployments": [{"serviceDeploymentArn": ARN, "createdAt": AT}]},
                         {"cluster": "demo", "service": "checkout", "maxResults": 100,
                          "status": ["PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"]})
    assert adapter.current("demo", "checkout") == ARN


def test_list_follows_next_token_and_sorts_newest_first(stubbed):
    adapter, stubber = stubbed
    older, newer = ARN + "-old", ARN + "-new"
    stubber.add_response("list_service_deployments",
                         {"serviceDeployments": [{"serviceDeploymentArn": older, "createdAt": AT}], "nextToken": "page-2"},
                         {"cluster": "demo", "service": "checkout", "maxResults": 100})
    stubber.add_response("list_service_deployments",
                         {"serviceDeployments": [{"serviceDeploymentArn": newer, "createdAt": AT.replace(hour=15)}]},
                         {"cluster": "demo", "service": "checkout", "maxResults": 100, "nextToken": "page-2"})
    assert [b["serviceDeploymentArn"] for b in adapter.list("demo", "checkout")] == [newer, older]


def test_describe_reads_the_stage_hooks_weights_and_why_it_rolled_back(stubbed):
    adapter, stubber = stubbed
    # PRE_PRODUCTION_TRAFFIC_SHIFT is a stage ECS's documentation names but its enum lacks: kept as sent
    stubber.add_response("describe_service_deployments", {"serviceDeployments": [deployment(
        lifecycleStage="PRE_PRODUCTION_TRAFFIC_SHIFT",
        lifecycleHookDetails=[{"hookId": "ecs-pause-1a2b", "targetType": "PAUSE", "status": "AWAITING_ACTION",
                               "expiresAt": AT.replace(hour=15), "timeoutAction": "ROLLBACK"}])]},
        {"serviceDeploymentArns": [ARN]})
    found = adapter.describe(ARN)
    assert (found.status, found.stage, found.production_weight, found.test_weight) == ("IN_PROGRESS", "PRE_PRODUCTION_TRAFFIC_SHIFT", 10.0, 100.0)
    assert found.awaiting().hook_id == "ecs-pause-1a2b" and found.awaiting().expires_at == AT.replace(hour=15).timestamp()
    assert not found.finished
    stubber.add_response("describe_service_deployments", {"serviceDeployments": [deployment(
        status="ROLLBACK_SUCCESSFUL", statusReason="Alarm checkout-5xx in ALARM",
        rollback={"reason": "alarm", "startedAt": AT, "serviceRevisionArn": REVISION},
        alarms={"status": "TRIGGERED", "alarmNames": ["checkout-5xx"], "triggeredAlarmNames": ["checkout-5xx"]})]},
        {"serviceDeploymentArns": [ARN]})
    rolled = adapter.describe(ARN)
    assert rolled.finished and rolled.triggered_alarms == ("checkout-5xx",) and rolled.rollback_reason == "alarm"


def test_describe_of_an_unknown_deployment_is_not_found(stubbed):
    adapter, stubber = stubbed
    stubber.add_response("describe_service_deployments",
                         {"serviceDeployments": [], "failures": [{"arn": ARN, "reason": "MISSING"}]}, {"serviceDeploymentArns": [ARN]})
    with pytest.raises(NotFound, match="MISSING"):
        adapter.describe(ARN)


def test_answer_and_stop_send_ecs_enums(stubbed):
    adapter, stubber = stubbed
    stubber.add_response("continue_service_deployment", {"serviceDeploymentArn": ARN},
                         {"serviceDeploymentArn": ARN, "hookId": "ecs-pause-1a2b", "action": "ROLLBACK"})
    adapter.answer(ARN, "ecs-pause-1a2b", "ROLLBACK")
    stubber.add_response("stop_service_deployment", {"serviceDeploymentArn": ARN}, {"serviceDeploymentArn": ARN, "stopType": "ROLLBACK"})
    adapter.stop(ARN)


def test_a_refused_answer_is_an_aws_error_not_retried(stubbed):
    adapter, stubber = stubbed
    stubber.add_client_error("continue_service_deployment", "InvalidParameterException",
                             "The lifecycle hook is not awaiting action", expected_params={
                                 "serviceDeploymentArn": ARN, "hookId": "ecs-pause-1a2b", "action": "CONTINUE"})
    with pytest.raises(AwsError, match="not awaiting action"):
        adapter.answer(ARN, "ecs-pause-1a2b", "CONTINUE")
