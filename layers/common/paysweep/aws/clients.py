"""The AWS SDK clients of a sweep, built once per container.

Every client honours the standard `AWS_ENDPOINT_URL`, so the same code runs against AWS or
a local emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_sns import SNSClient


def sweep_client_config(concurrency: int) -> Config:
    """The SDK's standard retry mode: throttling and 5xx retried with jittered backoff, three
    attempts in all (a few seconds at most), so a struggling table cannot eat the sweep's time.

    Client-side parameter validation is off: every request is built by the store, the journal
    and the publisher from typed values, and the services validate each request anyway (a bad
    one is a `ValidationException`, handled like any other refused write). Walking each request
    against its model was about a tenth of a sweep's CPU per order, and a sweep at high
    concurrency on a small function is CPU-bound (README, Performance).
    """
    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=concurrency + 4,
        parameter_validation=False,
    )


def dynamodb(config: Config | None = None) -> DynamoDBClient:
    return boto3.client("dynamodb", config=config)


def sns(config: Config) -> SNSClient:
    return boto3.client("sns", config=config)
