"""DynamoDB: items of the records table, with conditional writes for the lock."""

from __future__ import annotations

from deployer.aws.base import Adapter
from deployer.errors import AwsError


class ConditionFailed(Exception):
    """A conditional write found the item not as expected (someone else holds the lock)."""


class Table(Adapter):
    service_name = "dynamodb"

    def __init__(self, client, table: str, **kwargs):
        super().__init__(client, **kwargs)
        self.table = table

    def get(self, key: dict) -> dict | None:
        response = self._call("get_item", idempotent=True, TableName=self.table, Key=key, ConsistentRead=True)
        return response.get("Item")

    def put(self, item: dict, *, condition: str | None = None, names: dict | None = None, values: dict | None = None) -> None:
        params = {"TableName": self.table, "Item": item}
        if condition:
            params["ConditionExpression"] = condition
        if names:
            params["ExpressionAttributeNames"] = names
        if values:
            params["ExpressionAttributeValues"] = values
        self._conditional("put_item", params)

    def delete(self, key: dict, *, condition: str | None = None, names: dict | None = None, values: dict | None = None) -> None:
        params = {"TableName": self.table, "Key": key}
        if condition:
            params["ConditionExpression"] = condition
        if names:
            params["ExpressionAttributeNames"] = names
        if values:
            params["ExpressionAttributeValues"] = values
        self._conditional("delete_item", params)

    def query_prefix(self, pk: str, sk_prefix: str, *, newest_first: bool = True, limit: int = 50) -> list[dict]:
        response = self._call(
            "query",
            idempotent=True,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            ScanIndexForward=not newest_first,
            Limit=limit,
        )
        return response.get("Items", [])

    def _conditional(self, operation: str, params: dict) -> None:
        # A conditional write is safe to retry: it either applies once or fails its condition.
        try:
            self._call(operation, idempotent=True, **params)
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                raise ConditionFailed(exc.aws_message) from None
            raise
