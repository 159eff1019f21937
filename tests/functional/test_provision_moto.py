"""bootstrap/provision against a moto server: change sets, diffs, and the never-revert rule."""

from __future__ import annotations

import pytest

from deployer.provision.service import bootstrap, provision
from deployer.spec import load_config
from deployer.synth import names
from tests.functional.conftest import client


def stack_parameters(stack: str) -> dict[str, str]:
    stack = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


BOOTSTRAP_ROWS = [
    "+ Add     AccessLogsBucket (AWS::S3::Bucket)",
    "+ Add     AccessLogsBucketPolicy (AWS::S3::BucketPolicy)",
    "+ Add     CodeBucket (AWS::S3::Bucket)",
    "+ Add     CodeBucketPolicy (AWS::S3::BucketPolicy)",
    "+ Add     Records (AWS::DynamoDB::Table)",
]


def test_bootstrap_creates_the_records_table_then_is_a_noop(observer, progress):
    cfn = observer.cloudformation
    first = bootstrap(cfn, progress)
    assert [r.action for r in first.results] == ["created"]
    assert sorted(r.line() for r in first.results[0].changes) == BOOTSTRAP_ROWS
    table = cfn.outputs(names.BOOTSTRAP_STACK)[names.RECORDS_TABLE_OUTPUT]
    keys = client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
    assert [k["AttributeName"] for k in keys] == ["pk", "sk"]
    again = bootstrap(cfn, progress)
    assert [r.action for r in again.results] == ["noop"] and not again.changed
    assert "deployer-bootstrap: no changes" in progress.lines


def test_dry_run_changes_nothing(observer, progress):
    report = bootstrap(observer.cloudformation, progress, dry_run=True)
    assert report.results[0].action == "dry-run"
    assert sorted(r.line() for r in report.results[0].changes) == BOOTSTRAP_ROWS
    assert observer.cloudformation.stack(names.BOOTSTRAP_STACK) is None
    assert client("dynamodb").list_tables()["TableNames"] == []


def test_bootstrap_exports_the_access_log_bucket_and_keeps_its_settings(observer, progress):
    """The bucket's name is exported for services to import; a plain bootstrap keeps --kms-key/--access-log-days."""
    cfn = observer.cloudformation
    key = client("kms").create_key()["KeyMetadata"]["Arn"]
    bootstrap(cfn, progress, settings={"KmsKeyArn": key, "AccessLogRetentionDays": "30"})
    exports = {e["Name"]: e["Value"] for e in client("cloudformation").list_exports()["Exports"]}
    bucket = cfn.outputs(names.BOOTSTRAP_STACK)[names.ACCESS_LOGS_OUTPUT]
    outputs = cfn.outputs(names.BOOTSTRAP_STACK)
    assert exports[names.ACCESS_LOGS_EXPORT] == bucket and exports[names.RECORDS_TABLE_EXPORT] == outputs[names.RECORDS_TABLE_OUTPUT]
    assert set(exports) == {names.ACCESS_LOGS_EXPORT, names.RECORDS_TABLE_EXPORT, names.RECORDS_TABLE_ARN_EXPORT, names.CODE_BUCKET_EXPORT}
    client("s3").head_bucket(Bucket=bucket)  # made by the stack (moto keeps no versioning or policy from CloudFormation)
    again = bootstrap(cfn, progress)
    assert again.results[0].action == "noop"
    assert stack_parameters(names.BOOTSTRAP_STACK) == {"KmsKeyArn": key, "AccessLogRetentionDays": "30"}


def test_service_logging_to_the_bootstrap_bucket_needs_bootstrap_first(observer, progress, spec_path):
    from deployer.errors import ConfigError

    service = load_config(spec_path).services["web"]
    with pytest.raises(ConfigError, match="access_logs.bucket is 'bootstrap', but there is no stack deployer-bootstrap") as info:
        provision(service, observer, progress)
    assert info.value.hint == "run `deployer bootstrap` (once per account and region), then provision again"
    assert observer.cloudformation.stack("deployer-web") is None


def test_provision_imports_the_bootstrap_bucket_for_access_logs(observer, progress, spec_path):
    bootstrap(observer.cloudformation, progress)
    provision(load_config(spec_path).services["web"], observer, progress)
    bucket = observer.cloudformation.outputs(names.BOOTSTRAP_STACK)[names.ACCESS_LOGS_OUTPUT]
    elbv2 = client("elbv2")
    (lb,) = elbv2.describe_load_balancers()["LoadBalancers"]
    attributes = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert (attributes["access_logs.s3.bucket"], attributes["access_logs.s3.prefix"]) == (bucket, "web")
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert listeners[443]["Protocol"] == "HTTPS" and listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"] == {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}


def test_provision_rolling_service_creates_cluster_and_service_stacks(observer, progress, spec_path):
    bootstrap(observer.cloudformation, progress)
    service = load_config(spec_path).services["worker-web"]
    report = provision(service, observer, progress)
    assert [(r.stack, r.action) for r in report.results] == [("deployer-cluster-demo", "created"), ("deployer-worker-web", "created")]
    rows = {r.logical_id: r.action for r in report.results[1].changes}
    assert rows["Service"] == "Add" and rows["TargetGroup"] == "Add" and rows["Listener"] == "Add"
    assert client("ecs").describe_clusters(clusters=["demo"])["clusters"][0]["status"] == "ACTIVE"
    outputs = observer.cloudformation.outputs("deployer-worker-web")
    assert outputs["ClusterName"] == "demo"
    assert outputs["TargetGroupArn"].startswith("arn:aws:elasticloadbalancing:")
    # provisioning again with no change is a no-op for both stacks
    again = provision(service, observer, progress)
    assert [r.action for r in again.results] == ["noop", "noop"]


def test_infrastructure_update_keeps_the_released_revision_and_count(observer, progress, spec_path):
    """A release moved the service to a new revision and 6 tasks; a later provision must not undo it."""
    config = load_config(spec_path)
    bootstrap(observer.cloudformation, progress)
    provision(config.services["worker-web"], observer, progress)
    ecs = client("ecs")
    released = ecs.register_task_definition(
        family="worker-web",
        containerDefinitions=[{"name": "worker-web", "image": "example/worker-web:2", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="demo", service="worker-web", taskDefinition=released, desiredCount=6)
    live_task_definition = ecs.describe_services(cluster="demo", services=["worker-web"])["services"][0]["taskDefinition"]

    changed = spec_path.read_text().replace("log_retention_days: 14", "log_retention_days: 30")
    spec_path.write_text(changed)
    report = provision(load_config(spec_path).services["worker-web"], observer, progress)

    service_stack = report.results[1]
    assert service_stack.action == "updated"
    assert "LogGroup" in {r.logical_id for r in service_stack.changes}
    assert "~ DesiredCount: '4' -> '6'" in service_stack.parameter_changes
    params = stack_parameters("deployer-worker-web")
    assert params["TaskDefinitionArn"] == live_task_definition
    assert params["DesiredCount"] == "6"
    after = ecs.describe_services(cluster="demo", services=["worker-web"])["services"][0]
    assert (after["taskDefinition"], after["desiredCount"]) == (live_task_definition, 6)


def test_infrastructure_update_keeps_dns_weights(observer, progress, spec_path):
    """DNS blue/green: a release moved the weights to green; provision passes them back unchanged."""
    config = load_config(spec_path)
    bootstrap(observer.cloudformation, progress)
    provision(config.services["api"], observer, progress)
    route53 = client("route53")
    zone_id = observer.route53.zone_id("example.com")
    records = observer.route53.weighted_records(zone_id, "api.example.com")
    assert {k: v["Weight"] for k, v in records.items()} == {"blue": 100, "green": 0}
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": {**{k: v for k, v in records[color].items()}, "Weight": weight}}
                for color, weight in (("blue", 0), ("green", 100))
            ]
        },
    )
    changed = spec_path.read_text().replace("ttl: 30s", "ttl: 20s")
    spec_path.write_text(changed)
    report = provision(load_config(spec_path).services["api"], observer, progress)
    assert report.results[1].action == "updated"
    params = stack_parameters("deployer-api")
    assert (params["BlueWeight"], params["GreenWeight"]) == ("0", "100")
    after = observer.route53.weighted_records(zone_id, "api.example.com")
    assert {k: (v["Weight"], v["TTL"]) for k, v in after.items()} == {"blue": (0, 20), "green": (100, 20)}


def test_native_service_is_one_ecs_service_and_provision_keeps_the_weights_ecs_moved(observer, progress, spec_path):
    """engine ecs: ECS moved production to green through the rules; an infrastructure update keeps it there."""
    bootstrap(observer.cloudformation, progress)
    provision(load_config(spec_path).services["checkout"], observer, progress)
    outputs = observer.cloudformation.outputs("deployer-checkout")
    (svc,) = client("ecs").describe_services(cluster="demo", services=["checkout"])["services"]
    (mapping,) = svc["loadBalancers"]
    assert mapping["targetGroupArn"] == outputs["BlueTargetGroupArn"]
    assert mapping["advancedConfiguration"]["alternateTargetGroupArn"] == outputs["GreenTargetGroupArn"]
    assert mapping["advancedConfiguration"]["productionListenerRule"] == outputs["ListenerArn"]
    assert mapping["advancedConfiguration"]["testListenerRule"] == outputs["TestListenerRuleArn"]
    production = outputs["ListenerArn"]
    blue, green = outputs["BlueTargetGroupArn"], outputs["GreenTargetGroupArn"]
    assert observer.elbv2.forward_weights(production) == {blue: 100, green: 0}
    for rule in (production, outputs["TestListenerRuleArn"]):  # what ECS leaves after a release to green
        observer.elbv2.set_forward_weights(rule, {blue: 0, green: 100})

    spec_path.write_text(spec_path.read_text().replace("APP_NAME: checkout", "APP_NAME: checkout-2"))
    report = provision(load_config(spec_path).services["checkout"], observer, progress)
    assert report.results[1].action == "updated"
    params = stack_parameters("deployer-checkout")
    assert (params["BlueWeight"], params["GreenWeight"]) == ("0", "100")
    assert observer.elbv2.forward_weights(production) == {blue: 0, green: 100}


def test_stack_busy_or_failed_is_refused_with_a_hint(observer, progress, spec_path):
    from deployer.errors import DeployerError
    from deployer.provision.stacks import apply_stack

    class Busy:
        def stack(self, name):
            return {"StackStatus": "UPDATE_IN_PROGRESS"}

    with pytest.raises(DeployerError, match="is busy"):
        apply_stack(Busy(), stack="s", template={}, parameters={}, progress=progress)

    class Failed:
        def stack(self, name):
            return {"StackStatus": "ROLLBACK_COMPLETE"}

    with pytest.raises(DeployerError) as info:
        apply_stack(Failed(), stack="s", template={}, parameters={}, progress=progress)
    assert "delete-stack --stack-name s" in info.value.hint
