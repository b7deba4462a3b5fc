"""TeemoPay request signatures: Base64(SHA1withRSA) over the sorted body plus the nonce.

The string to sign (docs.teemopay.com, guides/authentication):
1. take the request body's fields, drop `sign`, nulls and blank strings;
2. sort the names in ascending ASCII order and join `name=value` with `&`;
3. append `&nonce=<the nonce header>`.
The signature is standard Base64 of an RSA PKCS#1 v1.5 signature with SHA-1, made with the
merchant's private key (PKCS#8, given as PEM or as bare Base64 without the PEM lines).

`cryptography` is imported at the first signature, not with the handler: a sweep that finds
nothing due never signs, and the library is most of TeemoPay's cold import beyond the layer's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import teemopay_assumptions as assume

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey


class KeyUnusable(ValueError):
    """A key in the secret that cannot be loaded (reported without the key's content)."""


def string_to_sign(body: Mapping[str, Any], nonce: str) -> str:
    fields = sorted(
        (name, assume.sign_value(value))
        for name, value in body.items()
        if name != "sign" and value is not None and not (isinstance(value, str) and not value.strip())
    )
    return "".join(f"{name}={value}&" for name, value in fields) + f"nonce={nonce}"


def _der(text: str, label: str) -> bytes:
    """Key bytes from PEM or bare Base64 (TeemoPay's dashboard shows keys without PEM lines)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.startswith("-----")]
    try:
        return base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnusable(f"{label} is neither PEM nor Base64") from None


@lru_cache(maxsize=64)
def load_private_key(text: str) -> RSAPrivateKey:
    """The merchant's PKCS#8 RSA private key; parsed once per distinct key (one per merchant
    account, and a rotation's new one)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    der = _der(text, "privateKey")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyUnusable("privateKey is not an unencrypted PKCS#8 key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyUnusable("privateKey is not an RSA key")
    return key


def sign(body: Mapping[str, Any], nonce: str, private_key: RSAPrivateKey) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = private_key.sign(string_to_sign(body, nonce).encode("utf-8"), padding.PKCS1v15(), hashes.SHA1())  # nosec B303  # TeemoPay mandates SHA1withRSA request signatures
    return base64.b64encode(signature).decode("ascii")
