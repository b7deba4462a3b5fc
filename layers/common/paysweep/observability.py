"""Powertools Logger, Metrics and Tracer, one of each per container.

Service name and metrics namespace come from Powertools' own environment variables
(`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`), set per function by the
template. Per-order log keys (`orderId`, `provider`) use the logger's thread-safe keys,
because orders are checked on worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(utc=True)
metrics = Metrics()
tracer = Tracer(patch_modules=("botocore", "requests"))
"""Only the two libraries a sweep calls through: patching every library X-Ray supports
imports them all at cold start."""


def keep_sdk_wire_logs_out() -> None:
    """Never let botocore log below INFO, whatever the root logger's level.

    At DEBUG botocore logs every AWS response body verbatim, the provider secret read from
    Secrets Manager included (and each signed request's canonical form). Lambda's advanced
    logging controls (`AWS_LAMBDA_LOG_LEVEL=DEBUG`) lower the root logger without a deploy.
    Its level is only ever raised, to INFO at most: botocore keeps saying what it said, minus DEBUG.
    """
    botocore = logging.getLogger("botocore")
    botocore.setLevel(max(logging.INFO, botocore.getEffectiveLevel()))


keep_sdk_wire_logs_out()


@contextmanager
def order_log_context(order_id: str, provider: str) -> Iterator[None]:
    """Put `orderId` and `provider` on every log line of this thread until the block ends."""
    logger.thread_safe_append_keys(orderId=order_id, provider=provider)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["orderId", "provider"])
