"""The bootstrap stack: one DynamoDB table for release records and per-service locks. Pure."""

from __future__ import annotations

from troposphere import Output, Ref, Template
from troposphere.dynamodb import AttributeDefinition, KeySchema, PointInTimeRecoverySpecification, Table, TimeToLiveSpecification

from deployer.synth import names


def bootstrap_template() -> Template:
    t = Template(Description="deployer: release records and service locks")
    t.add_resource(
        Table(
            "Records",
            BillingMode="PAY_PER_REQUEST",
            # pk = "service#<name>", sk = "lock" | "release#<id>" | "release#<id>#step#<n>"
            AttributeDefinitions=[
                AttributeDefinition(AttributeName="pk", AttributeType="S"),
                AttributeDefinition(AttributeName="sk", AttributeType="S"),
            ],
            KeySchema=[KeySchema(AttributeName="pk", KeyType="HASH"), KeySchema(AttributeName="sk", KeyType="RANGE")],
            TimeToLiveSpecification=TimeToLiveSpecification(AttributeName="expires_at", Enabled=True),
            PointInTimeRecoverySpecification=PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=True),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    )
    t.add_output(Output(names.RECORDS_TABLE_OUTPUT, Value=Ref("Records")))
    return t
