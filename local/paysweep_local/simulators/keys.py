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


def generate_rsa_keypair(bits: int = 1024) -> RsaKeyPair:
    """A fresh RSA pair in the four spellings the product and simulators use.

    1024 bits keeps test start-up fast; the formats are the same at 2048.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pkcs8, clear = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der, pem = serialization.Encoding.DER, serialization.Encoding.PEM
    private_der, private_pem = key.private_bytes(der, pkcs8, clear), key.private_bytes(pem, pkcs8, clear)
    public = key.public_key()
    public_der, public_pem = public.public_bytes(der, spki), public.public_bytes(pem, spki)
    return RsaKeyPair(
        private_pkcs8_pem=private_pem.decode("ascii"),
        private_pkcs8_b64=base64.b64encode(private_der).decode("ascii"),
        public_pem=public_pem.decode("ascii"),
        public_b64=base64.b64encode(public_der).decode("ascii"),
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


def kicc_simulator_kwargs(secret: dict[str, str] | None = None) -> dict[str, Any]:
    """`KiccSimulator(**kicc_simulator_kwargs(secret))` accepts the product using `secret`."""
    secret = secret or kicc_secret()
    return {"mall_id": secret["mallId"], "secret_key": secret["secretKey"]}


def teemopay_secret(
    keys: RsaKeyPair | None = None,
    platform: RsaKeyPair | None = None,
    app_code: str = DEFAULT_APP_CODE,
    country: str = DEFAULT_COUNTRY,
) -> dict[str, str]:
    """The product's TeemoPay secret: {"appCode", "country", "privateKey", "platformPublicKey"}."""
    keys = keys or merchant_keys()
    platform = platform or platform_keys()
    return {
        "appCode": app_code,
        "country": country,
        "privateKey": keys.private_pkcs8_b64,
        "platformPublicKey": platform.public_b64,
    }


def public_key_b64(private_key: str) -> str:
    """The bare Base64 X.509 public key of a PKCS#8 RSA private key given as PEM or bare Base64."""
    text = private_key.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode("".join(text.split())), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("not an RSA private key")
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def teemopay_simulator_kwargs_for(secret: dict[str, str]) -> dict[str, Any]:
    """`TeemoPaySimulator(**teemopay_simulator_kwargs_for(secret))` accepts the product using `secret`."""
    return {
        "app_code": secret["appCode"],
        "merchant_public_key": public_key_b64(secret["privateKey"]),
        "country": secret.get("country", DEFAULT_COUNTRY),
    }


def teemopay_simulator_kwargs(
    keys: RsaKeyPair | None = None, app_code: str = DEFAULT_APP_CODE, country: str = DEFAULT_COUNTRY
) -> dict[str, Any]:
    """`TeemoPaySimulator(**teemopay_simulator_kwargs(keys))` verifies what `keys` signs."""
    keys = keys or merchant_keys()
    return {"app_code": app_code, "merchant_public_key": keys.public_b64, "country": country}


__all__ = [
    "RsaKeyPair",
    "generate_rsa_keypair",
    "kicc_secret",
    "kicc_simulator_kwargs",
    "merchant_keys",
    "platform_keys",
    "public_key_b64",
    "teemopay_secret",
    "teemopay_simulator_kwargs",
    "teemopay_simulator_kwargs_for",
]
