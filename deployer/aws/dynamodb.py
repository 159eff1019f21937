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

    def transact(self, writes: list[dict], *, token: str) -> None:
        """Several puts at once, all or none (TransactWriteItems). `token` makes a resend a no-op
        for ten minutes, so a write whose answer was lost is safe to send again."""
        for write in writes:
            for op in write.values():
                op["TableName"] = self.table
        try:
            self._call("transact_write_items", idempotent=True, TransactItems=writes, ClientRequestToken=token)
        except AwsError as exc:
            if exc.code == "TransactionCanceledException" and "ConditionalCheckFailed" in exc.aws_message:
                raise ConditionFailed(exc.aws_message) from None
            raise

    def query_all(self, pk: str, sk_prefix: str) -> list[dict]:
        """Every item under `pk` whose sort key starts with `sk_prefix`, oldest first, all pages."""
        params = {"TableName": self.table, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                  "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}}, "ConsistentRead": True}
        items: list[dict] = []
        while True:
            response = self._call("query", idempotent=True, **params)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return items
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def query_prefix(self, pk: str, sk_prefix: str, *, newest_first: bool = True, limit: int = 50) -> list[dict]:
        response = self._call(
            "query",
            idempotent=True,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            ScanIndexForward=not newest_first,
            Limit=limit,
            ConsistentRead=True,  # the latest record as the last writer left it (the judge reads it right after)
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
