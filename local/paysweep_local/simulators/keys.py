"""RSA keys and provider secrets for local runs: generated on the spot, never stored.

TeemoPay signs with the merchant's RSA key (PKCS#8 private, X.509 public); its dashboard
shows keys as bare Base64 (the DER without PEM lines), which is what the product's secret
holds. One pair per role is generated per process and cached, because RSA generation is
the slowest thing a test run would otherwise repeat.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from paysweep_local.simulators.kicc import DEFAULT_MALL_ID, DEFAULT_SECRET_KEY
from paysweep_local.simulators.teemopay import DEFAULT_APP_CODE, DEFAULT_COUNTRY
from paysweep_local.simulators.toss import DEFAULT_SECRET_KEY as TOSS_SECRET_KEY

_DER, _PEM = serialization.Encoding.DER, serialization.Encoding.PEM
_PKCS8, _SPKI = serialization.PrivateFormat.PKCS8, serialization.PublicFormat.SubjectPublicKeyInfo


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


def kicc_secret(mall_id: str = DEFAULT_MALL_ID, secret_key: str = DEFAULT_SECRET_KEY) -> dict[str, str]:
    """The product's KICC secret: {"mallId", "secretKey"}."""
    return {"mallId": mall_id, "secretKey": secret_key}


def kicc_simulator_kwargs(secret: dict[str, str]) -> dict[str, Any]:
    """`KiccSimulator(**kicc_simulator_kwargs(secret))` accepts the product using `secret`."""
    return {"mall_id": secret["mallId"], "secret_key": secret["secretKey"]}


def teemopay_secret(keys: RsaKeyPair | None = None, app_code: str = DEFAULT_APP_CODE) -> dict[str, str]:
    """The product's TeemoPay secret: {"appCode", "country", "privateKey", "platformPublicKey"}."""
    return {
        "appCode": app_code,
        "country": DEFAULT_COUNTRY,
        "privateKey": (keys or merchant_keys()).private_pkcs8_b64,
        "platformPublicKey": platform_keys().public_b64,
    }


def teemopay_simulator_kwargs_for(secret: dict[str, str]) -> dict[str, Any]:
    """`TeemoPaySimulator(**teemopay_simulator_kwargs_for(secret))` accepts the product using `secret`:
    it verifies with the public half of the secret's private key (PEM or bare Base64 PKCS#8)."""
    text = secret["privateKey"].strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode("".join(text.split())), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("not an RSA private key")
    return {
        "app_code": secret["appCode"],
        "merchant_public_key": base64.b64encode(key.public_key().public_bytes(_DER, _SPKI)).decode("ascii"),
        "country": secret.get("country", DEFAULT_COUNTRY),
    }


def toss_secret(secret_key: str = TOSS_SECRET_KEY) -> dict[str, str]:
    """The product's Toss Payments secret: {"secretKey"} (`TossSimulator(secret_key=...)` accepts it)."""
    return {"secretKey": secret_key}


__all__ = [
    "RsaKeyPair",
    "generate_rsa_keypair",
    "kicc_secret",
    "kicc_simulator_kwargs",
    "merchant_keys",
    "platform_keys",
    "teemopay_secret",
    "teemopay_simulator_kwargs_for",
    "toss_secret",
]
