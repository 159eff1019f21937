"""What a security review asks of the templates: each setting on by default where it costs nothing,
a spec field where it needs a choice, and a note in the template where a finding stays on purpose."""

import pytest

from deployer.errors import ConfigError
from deployer.spec import parse_config
from deployer.synth import bootstrap_template, service_template
from deployer.synth.notes import KEY as NOTES

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def spec(load_balancer: str, extra: str = "", strategy: str = "canary"):
    text = f"""
services:
  web:
    cluster: demo
    image: example/web:1
    network: {{vpc: vpc-0a1, subnets: [subnet-0a1, subnet-0a2]}}
    load_balancer: {load_balancer}
    release: {{strategy: {strategy}}}
{extra}"""
    return parse_config(text, "deployer.yaml").services["web"]


def template(service) -> dict:
    return service_template(service).to_dict()["Resources"]


def of_type(resources: dict, kind: str) -> dict:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def alb_attributes(resources: dict, logical_id: str = "LoadBalancer") -> dict:
    return {a["Key"]: a["Value"] for a in resources[logical_id]["Properties"]["LoadBalancerAttributes"]}


def ingress(resources: dict) -> list[dict]:
    return resources["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]


def notes(resource: dict) -> list[str]:
    return [n["Finding"] for n in resource.get("Metadata", {}).get(NOTES, [])]


HTTPS = f"{{listener: {{port: 443, protocol: HTTPS, certificate: '{CERT}'}}}}"


# -- listeners ---------------------------------------------------------------------------------

def test_https_listener_gets_a_redirect_from_http_and_a_current_tls_policy():
    resources = template(spec(HTTPS))
    listener = resources["Listener"]["Properties"]
    assert listener["Protocol"] == "HTTPS" and listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    redirect = resources["HttpRedirectListener"]["Properties"]
    assert (redirect["Port"], redirect["Protocol"]) == (80, "HTTP")
    assert redirect["DefaultActions"] == [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    ]
    assert {r["FromPort"] for r in ingress(resources)} == {443, 80}


def test_dns_blue_green_gets_a_redirect_per_load_balancer():
    resources = template(spec(HTTPS, "    dns: {zone: example.com, record: web.example.com, mode: weighted}", strategy="bluegreen"))
    assert {"BlueHttpRedirectListener", "GreenHttpRedirectListener"} <= set(resources)


def test_redirect_port_is_a_choice_and_cannot_collide():
    https_no_redirect = f"{{listener: {{port: 443, protocol: HTTPS, certificate: '{CERT}'}}, http_redirect_port: null}}"
    assert "HttpRedirectListener" not in template(spec(https_no_redirect))
    assert "HttpRedirectListener" not in template(spec("{listener: {port: 80}}"))  # plain HTTP: nothing to redirect to
    with pytest.raises(ConfigError, match="http_redirect_port 8080 is taken by a listener"):
        spec(f"{{listener: {{port: 443, protocol: HTTPS, certificate: '{CERT}'}}, test_listener: {{port: 8080}}, http_redirect_port: 8080}}")


def test_tls_policy_below_tls_1_2_is_refused():
    assert template(spec(f"{{listener: {{port: 443, protocol: HTTPS, certificate: '{CERT}', ssl_policy: ELBSecurityPolicy-TLS13-1-3-2021-06}}}}"))[
        "Listener"]["Properties"]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    with pytest.raises(ConfigError, match=r"load_balancer.listener.ssl_policy: expected an ALB TLS policy whose oldest protocol is TLS 1.2, .* \(got .ELBSecurityPolicy-2016-08.\)"):
        spec(f"{{listener: {{port: 443, protocol: HTTPS, certificate: '{CERT}', ssl_policy: ELBSecurityPolicy-2016-08}}}}")


def test_plain_http_listener_says_how_to_fix_it():
    resources = template(spec("{listener: {port: 80}}"))
    assert notes(resources["Listener"]) == ["listener protocol is HTTP, not HTTPS"]
    assert notes(template(spec(HTTPS))["Listener"]) == []


# -- the load balancer -------------------------------------------------------------------------

def test_alb_drops_invalid_headers_and_names_its_desync_mode_by_default():
    attributes = alb_attributes(template(spec(HTTPS)))
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["routing.http.desync_mitigation_mode"] == "defensive"
    strict = alb_attributes(template(spec("{listener: {port: 80}, desync_mitigation_mode: strictest}")))
    assert strict["routing.http.desync_mitigation_mode"] == "strictest"


def test_access_logs_go_to_the_bootstrap_bucket_by_import_or_to_a_named_one():
    resources = template(spec("{listener: {port: 80}, access_logs: {bucket: bootstrap}}"))
    attributes = alb_attributes(resources)
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Fn::ImportValue": "deployer-access-logs-bucket"}
    assert attributes["access_logs.s3.prefix"] == "web"
    named = alb_attributes(template(spec("{listener: {port: 80}, access_logs: {bucket: team-alb-logs, prefix: edge/web}}")))
    assert (named["access_logs.s3.bucket"], named["access_logs.s3.prefix"]) == ("team-alb-logs", "edge/web")


def test_access_logs_off_is_said_in_the_template():
    resources = template(spec("{listener: {port: 80}}"))
    assert alb_attributes(resources)["access_logs.s3.enabled"] == "false"
    assert notes(resources["LoadBalancer"]) == ["ALB access logging is disabled"]


# -- who reaches what ---------------------------------------------------------------------------

def test_test_listener_is_closed_to_everyone_by_default():
    resources = template(spec("{listener: {port: 80}, test_listener: {port: 8080}}"))
    assert [r for r in ingress(resources) if r["FromPort"] == 8080] == []
    assert {r["CidrIp"] for r in ingress(resources) if r["FromPort"] == 80} == {"0.0.0.0/0"}


def test_test_listener_opens_only_to_what_the_spec_names():
    resources = template(spec(
        "{listener: {port: 80}, allowed_cidrs: [203.0.113.0/24], "
        "test_listener: {port: 8080, allowed_cidrs: [10.0.0.0/16], allowed_security_groups: [sg-0abc]}}"
    ))
    rules = [r for r in ingress(resources) if r["FromPort"] == 8080]
    assert [(r.get("CidrIp"), r.get("SourceSecurityGroupId")) for r in rules] == [("10.0.0.0/16", None), (None, "sg-0abc")]
    assert {r["CidrIp"] for r in ingress(resources) if r["FromPort"] == 80} == {"203.0.113.0/24"}
    assert notes(resources["AlbSecurityGroup"]) == []  # nothing public left to explain


def test_main_listener_cidrs_live_on_the_load_balancer():
    with pytest.raises(ConfigError, match="set allowed_cidrs there"):
        spec("{listener: {port: 80, allowed_cidrs: [10.0.0.0/8]}}")


def test_every_security_group_rule_says_what_it_is_for():
    resources = template(spec(
        f"{{listener: {{port: 443, protocol: HTTPS, certificate: '{CERT}'}}, test_listener: {{port: 8080, allowed_cidrs: [10.0.0.0/16]}}}}"
    ))
    rules = [r for group in of_type(resources, "AWS::EC2::SecurityGroup").values() for r in group["Properties"]["SecurityGroupIngress"]]
    assert len(rules) == 4 and all(r.get("Description") for r in rules)
    assert notes(resources["AlbSecurityGroup"]) == ["ingress from 0.0.0.0/0 to port(s) 443, 80"]


# -- the task ------------------------------------------------------------------------------------

def test_container_root_filesystem_is_read_only_with_scratch_paths_writable():
    resources = template(spec("{listener: {port: 80}}", "    scratch_paths: [/tmp, /var/cache/app]"))
    task = resources["TaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True and container["Privileged"] is False
    assert container["MountPoints"] == [
        {"SourceVolume": "scratch-0", "ContainerPath": "/tmp", "ReadOnly": False},
        {"SourceVolume": "scratch-1", "ContainerPath": "/var/cache/app", "ReadOnly": False},
    ]
    assert task["Volumes"] == [{"Name": "scratch-0"}, {"Name": "scratch-1"}]
    writable = template(spec("{listener: {port: 80}}", "    readonly_root_filesystem: false"))
    assert writable["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["ReadonlyRootFilesystem"] is False


def test_log_group_takes_a_kms_key_or_says_why_not():
    resources = template(spec("{listener: {port: 80}}", f"    kms_key: {KEY}"))
    assert resources["LogGroup"]["Properties"]["KmsKeyId"] == KEY and notes(resources["LogGroup"]) == []
    plain = template(spec("{listener: {port: 80}}"))
    assert "KmsKeyId" not in plain["LogGroup"]["Properties"]
    assert notes(plain["LogGroup"]) == ["log group is not encrypted with a customer-managed KMS key"]
    with pytest.raises(ConfigError, match="kms_key"):
        spec("{listener: {port: 80}}", "    kms_key: arn:aws:s3:::not-a-key")


# -- the bootstrap stack ---------------------------------------------------------------------

def test_bootstrap_table_keeps_point_in_time_recovery_and_takes_a_kms_key():
    t = bootstrap_template().to_dict()
    table = t["Resources"]["Records"]["Properties"]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"Fn::If": [
        "HasKmsKey",
        {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "KmsKeyArn"}},
        {"SSEEnabled": False},
    ]}
    assert t["Parameters"]["KmsKeyArn"]["Default"] == ""


def test_access_log_bucket_is_private_encrypted_versioned_and_expires_logs():
    t = bootstrap_template().to_dict()
    bucket = t["Resources"]["AccessLogsBucket"]
    props = bucket["Properties"]
    assert "BucketName" not in props  # generated: nobody can hold the name in advance
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True} and len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "AccessLogRetentionDays"} and rule["Status"] == "Enabled"
    assert bucket["DeletionPolicy"] == "Retain"
    assert t["Outputs"]["AccessLogsBucketName"]["Export"] == {"Name": "deployer-access-logs-bucket"}
    assert notes(bucket) == ["bucket is encrypted with SSE-S3, not a KMS key", "bucket has no server access logging"]


def test_access_log_bucket_policy_lets_alb_log_delivery_write_and_requires_tls():
    t = bootstrap_template().to_dict()
    statements = t["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    delivery, regional, tls = statements
    assert delivery["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Resource"] == {"Fn::Sub": "${AccessLogsBucket.Arn}/*AWSLogs/${AWS::AccountId}/*"}
    condition, older_regions, absent = regional["Fn::If"]
    assert condition == "ElbLogsFromRegionalAccount" and absent == {"Ref": "AWS::NoValue"}
    assert older_regions["Principal"]["AWS"]["Fn::Sub"][0] == "arn:${AWS::Partition}:iam::${Account}:root"
    assert t["Mappings"]["ElbLogAccounts"]["us-east-1"] == {"Account": "127311923021"}
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_regional_account_condition_covers_every_mapped_region():
    t = bootstrap_template().to_dict()

    def regions(node) -> set[str]:
        if isinstance(node, dict):
            if "Fn::Equals" in node:
                return {node["Fn::Equals"][1]}
            return set().union(*(regions(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(regions(v) for v in node)) if node else set()
        return set()

    assert regions(t["Conditions"]["ElbLogsFromRegionalAccount"]) == set(t["Mappings"]["ElbLogAccounts"])


def test_sandbox_redirect_location_follows_the_alb_placeholders():
    from deployer.sandbox.proxy import redirect_location

    https = {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    assert redirect_location(https, "web.example.com", 80, "/a", "") == "https://web.example.com/a"
    assert redirect_location({**https, "Port": "8443"}, "web.example.com", 80, "/a", "b=1") == "https://web.example.com:8443/a?b=1"
    custom = {"Protocol": "HTTPS", "Host": "www.#{host}", "Path": "/v2#{path}", "Query": "#{query}&from=http"}
    assert redirect_location(custom, "example.com", 80, "/x", "q=1") == "https://www.example.com:80/v2/x?q=1&from=http"


def test_access_logs_on_a_shared_listener_rule_are_refused():
    rule = ("{rule: {listener_arn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/abc/def', "
            "load_balancer_full_name: app/shared/0abc, alb_security_group: sg-0abc, priority: 10, hosts: [web.example.com]}, "
            "access_logs: {bucket: bootstrap}}")
    with pytest.raises(ConfigError, match="access_logs are a setting of the shared ALB"):
        spec(rule, strategy="rolling")
