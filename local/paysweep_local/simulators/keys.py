"""RSA keys and provider secrets for local runs: generated on the spot, never stored.

TeemoPay signs with the merchant's RSA key (PKCS#8 private, X.509 public); its dashboard
shows keys as bare Base64 (the DER without PEM lines), which is what the product's secret
holds. One pair per role is generated per process and cached, because RSA generation is
the slowest thing a test run would otherwise repeat.

Several merchant accounts: each `*_secret(accounts=("seller-b", ...))` adds the product's optional
"accounts" object (merchant id -> an account of the secret's own fields, generated credentials), and
each `*_simulator_kwargs*` configures a simulator with every account a secret holds.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from paysweep_local.simulators.kicc import DEFAULT_MALL_ID, DEFAULT_SECRET_KEY
from paysweep_local.simulators.teemopay import DEFAULT_APP_CODE, DEFAULT_COUNTRY
from paysweep_local.simulators.toss import DEFAULT_SECRET_KEY as TOSS_SECRET_KEY
from paysweep_local.simulators.toss import MID as TOSS_MID

_DER, _PEM = serialization.Encoding.DER, serialization.Encoding.PEM
_PKCS8, _SPKI = serialization.PrivateFormat.PKCS8, serialization.PublicFormat.SubjectPublicKeyInfo
MERCHANT_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
"""The product's merchant ids, the keys of a secret's "accounts"."""


@dataclass(frozen=True)
class RsaKeyPair:
    private_pkcs8_pem: str
    private_pkcs8_b64: str
    public_pem: str
    public_b64: str

    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.private_pkcs8_pem.encode("ascii"), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key


def generate_rsa_keypair() -> RsaKeyPair:
    """A fresh RSA pair in the four spellings the product and simulators use.

    1024 bits keeps test start-up fast; the formats are the same at 2048.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    clear = serialization.NoEncryption()
    public = key.public_key()
    return RsaKeyPair(
        private_pkcs8_pem=key.private_bytes(_PEM, _PKCS8, clear).decode("ascii"),
        private_pkcs8_b64=base64.b64encode(key.private_bytes(_DER, _PKCS8, clear)).decode("ascii"),
        public_pem=public.public_bytes(_PEM, _SPKI).decode("ascii"),
        public_b64=base64.b64encode(public.public_bytes(_DER, _SPKI)).decode("ascii"),
    )


@cache
def merchant_keys() -> RsaKeyPair:
    """The merchant's pair (the product signs with it; the TeemoPay simulator verifies)."""
    return generate_rsa_keypair()


@cache
def platform_keys() -> RsaKeyPair:
    """TeemoPay's platform pair (only its public half appears, in the product's secret)."""
    return generate_rsa_keypair()


@cache
def account_keys(merchant_id: str) -> RsaKeyPair:
    """The merchant pair of one extra account (`teemopay_secret(accounts=...)`)."""
    return generate_rsa_keypair()


def _with_accounts(
    secret: dict[str, Any], accounts: Iterable[str], account: Callable[[int, str], dict[str, str]]
) -> dict[str, Any]:
    """`secret`, plus {"accounts": {merchant id: account(n, merchant id)}} (n = 2, 3...) if any are named."""
    made: dict[str, dict[str, str]] = {}
    for number, merchant in enumerate((accounts,) if isinstance(accounts, str) else accounts, 2):
        if not MERCHANT_ID.fullmatch(merchant) or merchant in made:
            raise ValueError(f"not a new merchant id (1..32 of A-Z a-z 0-9 - _ .): {merchant!r}")
        made[merchant] = account(number, merchant)
    return secret | {"accounts": made} if made else secret


def _accounts(secret: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(secret.get("accounts", {}).values())


def kicc_secret(
    mall_id: str = DEFAULT_MALL_ID, secret_key: str = DEFAULT_SECRET_KEY, accounts: Iterable[str] = ()
) -> dict[str, Any]:
    """The product's KICC secret: {"mallId", "secretKey"}, `accounts` with malls M0000002, M0000003..."""

    def account(n: int, merchant: str) -> dict[str, str]:
        return {"mallId": f"M{n:07d}", "secretKey": f"{secret_key}-{merchant}"}

    return _with_accounts({"mallId": mall_id, "secretKey": secret_key}, accounts, account)


def kicc_simulator_kwargs(secret: Mapping[str, Any]) -> dict[str, Any]:
    """`KiccSimulator(**kicc_simulator_kwargs(secret))` accepts the product using `secret`."""
    others = {account["mallId"]: account["secretKey"] for account in _accounts(secret)}
    return {"mall_id": secret["mallId"], "secret_key": secret["secretKey"], "accounts": others}


def teemopay_secret(
    keys: RsaKeyPair | None = None, app_code: str = DEFAULT_APP_CODE, accounts: Iterable[str] = ()
) -> dict[str, Any]:
    """The product's TeemoPay secret: {"appCode", "country", "privateKey", "platformPublicKey"};
    `accounts` with app codes APP0002, APP0003... and their own merchant keys (`account_keys`)."""
    secret = {
        "appCode": app_code,
        "country": DEFAULT_COUNTRY,
        "privateKey": (keys or merchant_keys()).private_pkcs8_b64,
        "platformPublicKey": platform_keys().public_b64,
    }

    def account(n: int, merchant: str) -> dict[str, str]:
        return secret | {"appCode": f"APP{n:04d}", "privateKey": account_keys(merchant).private_pkcs8_b64}

    return _with_accounts(secret, accounts, account)


def teemopay_simulator_kwargs_for(secret: Mapping[str, Any]) -> dict[str, Any]:
    """`TeemoPaySimulator(**teemopay_simulator_kwargs_for(secret))` accepts the product using `secret`:
    it verifies with the public half of each account's private key (PEM or bare Base64 PKCS#8)."""
    return {
        "app_code": secret["appCode"],
        "merchant_public_key": _public_b64(secret["privateKey"]),
        "country": secret.get("country", DEFAULT_COUNTRY),
        "accounts": {account["appCode"]: _public_b64(account["privateKey"]) for account in _accounts(secret)},
    }


def _public_b64(private_key: str) -> str:
    text = private_key.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode("".join(text.split())), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("not an RSA private key")
    return base64.b64encode(key.public_key().public_bytes(_DER, _SPKI)).decode("ascii")


def toss_secret(secret_key: str = TOSS_SECRET_KEY, accounts: Iterable[str] = ()) -> dict[str, Any]:
    """The product's Toss Payments secret: {"secretKey"}; `accounts` with own keys and mIds shop-02..."""

    def account(n: int, merchant: str) -> dict[str, str]:
        return {"secretKey": f"{secret_key}_{merchant}", "mId": f"shop-{n:02d}"}

    return _with_accounts({"secretKey": secret_key}, accounts, account)


def toss_simulator_kwargs(secret: Mapping[str, Any]) -> dict[str, Any]:
    """`TossSimulator(**toss_simulator_kwargs(secret))` accepts the product using `secret`."""
    others = {account["secretKey"]: account.get("mId", TOSS_MID) for account in _accounts(secret)}
    return {"secret_key": secret["secretKey"], "mid": secret.get("mId", TOSS_MID), "accounts": others}


__all__ = [
    "MERCHANT_ID",
    "RsaKeyPair",
    "account_keys",
    "generate_rsa_keypair",
    "kicc_secret",
    "kicc_simulator_kwargs",
    "merchant_keys",
    "platform_keys",
    "teemopay_secret",
    "teemopay_simulator_kwargs_for",
    "toss_secret",
    "toss_simulator_kwargs",
]
