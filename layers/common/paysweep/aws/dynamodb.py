"""DynamoDB plumbing shared by the store and the journal: item (de)serialisation, and one
request with its failures translated into the sweep's two store errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from paysweep.domain.item import StoredOrder
from paysweep.sweep.ports import ConditionFailed, StoreUnavailable

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize(value: Any) -> Mapping[str, Any]:
    """One value in DynamoDB's wire form (`{"S": ...}`, `{"N": ...}`, `{"M": ...}`)."""
    return _serializer.serialize(value)


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def call_dynamodb[**P, R](request: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Make one DynamoDB request and translate its failures into the store's two exceptions.

    The client's standard retry mode has already retried throttling and 5xx answers by
    the time an error arrives here: what is left is a real failure of this request.
    """
    try:
        return request(*args, **kwargs)
    except ClientError as error:
        operation = getattr(request, "__name__", "request")
        code = error.response.get("Error", {}).get("Code", "Unknown")
        table = kwargs.get("TableName", "?")
        if code == "ConditionalCheckFailedException":
            current = error.response.get("Item")
            found = StoredOrder(from_item(current)) if isinstance(current, Mapping) else None
            raise ConditionFailed(f"{operation} on {table}: condition failed", found) from error
        raise StoreUnavailable(f"DynamoDB {operation} on {table} failed: {code}", code) from error
    except BotoCoreError as error:
        operation = getattr(request, "__name__", "request")
        raise StoreUnavailable(f"DynamoDB {operation} failed: {type(error).__name__}", type(error).__name__) from error
