"""Provider credentials from Secrets Manager, through Powertools Parameters (cached).

The secret is fetched on first use and re-fetched once it is older than
SECRET_MAX_AGE_SECONDS, so a rotated secret is picked up without a deploy. Values never
leave this module except to the adapter that signs requests with them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from paysweep.provider.client import CredentialSource, SecretUnavailable


def secret_source(secret_arn: str, max_age: int, provider: parameters.SecretsProvider | None = None) -> CredentialSource:
    """A callable returning the secret's JSON object, cached for `max_age` seconds."""
    secrets = provider or parameters.SecretsProvider()
    # One fetch at a time: otherwise every worker thread of a cold container misses the cache
    # at once and asks Secrets Manager in parallel.
    lock = threading.Lock()

    def load() -> Mapping[str, Any]:
        try:
            with lock:
                value = secrets.get(secret_arn, transform="json", max_age=max_age)
        except (GetParameterError, TransformParameterError) as error:
            # The error text can quote the secret's body when JSON parsing fails: keep it out.
            raise SecretUnavailable(f"cannot read provider secret {secret_arn}: {type(error).__name__}") from None
        if not isinstance(value, Mapping):
            raise SecretUnavailable(f"provider secret {secret_arn} must be a JSON object")
        return value

    return load
