"""The operator command's AWS clients, and the deployed stack's outputs.

The standard SDK chain decides everything: credentials, region, and `AWS_ENDPOINT_URL`,
which points the same code at the local stack's emulator instead of AWS.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_sns import SNSClient


class StackUnavailable(Exception):
    """The stack's outputs could not be read (no such stack, no credentials, no endpoint)."""


def _config() -> Config:
    """The SDK's standard retries (3 attempts) and short timeouts: an operator should hear
    about a problem in seconds, not minutes. Clients are made per command, from the
    environment as it is then."""
    return Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)


def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_config())


def sns() -> SNSClient:
    return boto3.client("sns", config=_config())


def invoke_check(function_name: str, order_ids: list[str]) -> dict[str, Any]:
    """A synchronous check (CONTRACT.md section 6): the function's answer, `{"checks": [...]}`.

    The read timeout outlasts one check (a provider call plus 5 s); a function error (a refused
    request) is raised as `CheckRefused` with the function's own message."""
    client = boto3.client("lambda", config=Config(retries={"mode": "standard", "max_attempts": 1},
                                                  connect_timeout=5, read_timeout=120))
    try:
        response = client.invoke(FunctionName=function_name, Payload=json.dumps({"check": order_ids}).encode())
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise InvokeFailed(f"cannot invoke {function_name!r}: {message}") from None
    except BotoCoreError as error:
        raise InvokeFailed(f"cannot invoke {function_name!r}: {error}") from None
    answer: dict[str, Any] = json.loads(response["Payload"].read() or b"null") or {}
    if response.get("FunctionError"):
        raise CheckRefused(f"{function_name}: {answer.get('errorType')}: {answer.get('errorMessage')}")
    return answer


class InvokeFailed(Exception):
    """Lambda did not take the invocation (denied, throttled, unreachable)."""


class CheckRefused(Exception):
    """The function answered a check with an error (a malformed request, an unknown event)."""


def cloudformation() -> CloudFormationClient:
    return boto3.client("cloudformation", config=_config())


def stack_outputs(stack_name: str) -> dict[str, str]:
    """The CloudFormation outputs of a deployed stack (OrdersTableName, SweepShards, topic ARNs)."""
    try:
        stacks = cloudformation().describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise StackUnavailable(f"cannot read stack {stack_name!r}: {message}") from None
    except BotoCoreError as error:
        raise StackUnavailable(f"cannot read stack {stack_name!r}: {error}") from None
    if not stacks:
        raise StackUnavailable(f"no stack {stack_name!r}")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
