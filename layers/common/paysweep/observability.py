"""Powertools Logger, Metrics and Tracer, one of each per container.

Service name and metrics namespace come from Powertools' own environment variables
(`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`), set per function by the
template. Per-order log keys (`orderId`, `provider`) use the logger's thread-safe keys,
because orders are checked on worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(utc=True)
metrics = Metrics()
tracer = Tracer()


@contextmanager
def order_log_context(order_id: str, provider: str) -> Iterator[None]:
    """Put `orderId` and `provider` on every log line of this thread until the block ends."""
    logger.thread_safe_append_keys(orderId=order_id, provider=provider)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["orderId", "provider"])
