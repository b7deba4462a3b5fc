"""Powertools Logger, Metrics and Tracer, one of each per container.

The Tracer is built at the first invocation, and only where tracing is on: constructing it
imports the X-Ray SDK (and asyncio, through wrapt), about a tenth of a handler's cold import.
A container whose tracing is off (`POWERTOOLS_TRACE_DISABLED`, local runs, tests) never loads it.

Service name and metrics namespace come from Powertools' own environment variables
(`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`), set per function by the
template. Per-order log keys (`orderId`, `provider`) use the logger's thread-safe keys,
because orders are checked on worker threads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

logger = Logger(utc=True)
metrics = Metrics()

TRACED_MODULES = ("botocore", "requests")
"""Only the two libraries a sweep calls through: patching every library X-Ray supports
imports them all."""


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule for an enabled Tracer: inside Lambda (`LAMBDA_TASK_ROOT`), not under
    SAM local or Chalice, and `POWERTOOLS_TRACE_DISABLED` not truthy."""
    env = os.environ if environ is None else environ
    if resolve_truthy_env_var_choice(env=env.get(constants.TRACER_DISABLED_ENV, "false")):
        return False
    emulated = env.get(constants.SAM_LOCAL_ENV) or env.get(constants.CHALICE_LOCAL_ENV)
    return bool(env.get(constants.LAMBDA_TASK_ROOT_ENV)) and not emulated


@cache
def tracer() -> Tracer | None:
    """The container's Tracer (botocore and requests patched), or None where tracing is off."""
    return Tracer(patch_modules=TRACED_MODULES) if tracing_enabled() else None


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


@contextmanager
def merchant_log_context(merchant_id: str | None) -> Iterator[None]:
    """Put `merchantId` on this thread's log lines while an order naming its account is worked."""
    if merchant_id is None:
        yield
        return
    logger.thread_safe_append_keys(merchantId=merchant_id)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["merchantId"])
