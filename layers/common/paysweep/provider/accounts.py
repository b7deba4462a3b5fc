"""Merchant accounts: several accounts of one provider in one stack, kept in its one secret.

A provider's secret holds the default account's fields, as a single-account secret always did,
and, optionally, `"accounts"`: merchant id -> the same fields for each other account
(CONTRACT.md section 4). An order naming its account (`merchantId`) is checked, cancelled and
rate-limited with that account; an order naming none, with the default. The secret is read and
cached once for all accounts (`paysweep.aws.secrets`), so rotating one account, or adding one,
is one `PutSecretValue` that every container picks up within SECRET_MAX_AGE_SECONDS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paysweep.provider.client import CredentialSource, SecretUnavailable

ACCOUNTS = "accounts"


class UnknownAccount(Exception):
    """The order names an account its provider's secret does not hold (or names none, and the
    secret has no default account)."""


def account_of(secret: Mapping[str, Any], merchant_id: str | None) -> Mapping[str, Any]:
    """The credentials of one account: the default's for `None`."""
    accounts = secret.get(ACCOUNTS, {})
    if not isinstance(accounts, Mapping) or not all(isinstance(a, Mapping) for a in accounts.values()):
        raise SecretUnavailable(f"the provider secret's {ACCOUNTS!r} must map merchant ids to objects")
    if merchant_id is None:
        default = {name: value for name, value in secret.items() if name != ACCOUNTS}
        if not default and ACCOUNTS in secret:
            raise UnknownAccount("the order names no merchantId and the provider secret has no default account")
        return default  # a single-account secret, checked by the adapter as it always was
    account: Mapping[str, Any] | None = accounts.get(merchant_id)
    if account is None:
        raise UnknownAccount(f"the provider secret has no account {merchant_id!r} (merchantId)")
    return account


class SecretAccounts:
    """Which accounts a provider's secret holds: the sweep asks before it asks the provider."""

    def __init__(self, credentials: CredentialSource) -> None:
        self._credentials = credentials

    def account_problem(self, merchant_id: str | None) -> str | None:
        """Why the order's account cannot be used, or None. A secret that cannot be read says
        nothing here: the provider call then fails as MISCONFIGURED, as it always has."""
        try:
            account_of(self._credentials(), merchant_id)
        except UnknownAccount as unknown:
            return str(unknown)
        except SecretUnavailable:
            return None
        return None
