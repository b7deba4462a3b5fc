"""Test-side clients of the simulators: plain `requests`, our own signing and HMAC.

Deliberately independent of both the product and the simulators' internals: the
requests are built from the providers' documentation, so these tests check that the
simulators enforce the documented rules rather than agreeing with themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FIND = "/api/trades/wechatpay/find"
REVISE = "/api/trades/wechatpay/revise"
QUERY = "/api/pay/payment/query/v1"
MALL = "M0000001"
SECRET = "test-kicc-secret"
KST = timezone(timedelta(hours=9))


def find_body(pg_cno: str, key: str | None = None, mall_id: str = MALL) -> dict[str, str]:
    return {"mallId": mall_id, "shopTransactionId": key or new_key("Q"), "pgCno": pg_cno}


def post_bytes(
    base_url: str, path: str, data: bytes, content_type: str = "application/json"
) -> requests.Response:
    return requests.post(base_url + path, data=data, headers={"Content-Type": content_type}, timeout=5)


def post(
    base_url: str, path: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 5
) -> requests.Response:
    return requests.post(base_url + path, json=body, headers=headers, timeout=timeout)


# -- KICC -----------------------------------------------------------------------------------


def hmac_hex(secret: str, pg_cno: str, key: str) -> str:
    return hmac.new(secret.encode(), f"{pg_cno}|{key}".encode(), hashlib.sha256).hexdigest()


def kst_day(moment: datetime, days: int = 0) -> str:
    return (moment.astimezone(KST) + timedelta(days=days)).strftime("%Y%m%d")


def new_key(prefix: str = "K") -> str:
    return prefix + secrets.token_hex(12)


def find(base_url: str, pg_cno: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"mallId": MALL, "shopTransactionId": key or new_key("Q"), "pgCno": pg_cno, **extra}
    response = post(base_url, FIND, body)
    assert response.status_code == 200, response.text
    return response.json()


def revise_body(pg_cno: str, key: str, day: str, secret: str = SECRET, **overrides: Any) -> dict[str, Any]:
    body = {
        "mallId": MALL,
        "shopTransactionId": key,
        "pgCno": pg_cno,
        "reviseTypeCode": "40",
        "cancelReqDate": day,
        "msgAuthValue": hmac_hex(secret, pg_cno, key),
        "memo": "integrity cancel",
    }
    body.update(overrides)
    return body


# -- TeemoPay -------------------------------------------------------------------------------


def teemo_sign(
    body: dict[str, Any], nonce: str, key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm | None = None
) -> str:
    blank = lambda v: v is None or (isinstance(v, str) and not v.strip())
    fields = sorted((k, v) for k, v in body.items() if k != "sign" and not blank(v))
    text = "&".join([*(f"{k}={v}" for k, v in fields), f"nonce={nonce}"])
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm or hashes.SHA1())
    return base64.b64encode(signature).decode()


def teemo_headers(
    now: datetime, nonce: str | None = None, app_code: str = "APP0001", country: str = "KR"
) -> dict[str, str]:
    return {
        "timestamp": str(int(now.timestamp() * 1000)),
        "nonce": nonce or secrets.token_hex(16),
        "country": country,
        "app_code": app_code,
    }


def teemo_query(
    base_url: str,
    order_no: str,
    key: rsa.RSAPrivateKey,
    now: datetime,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A correctly signed query; `headers` override single headers (None drops one)."""
    sent = teemo_headers(now)
    for name, value in (headers or {}).items():
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = value
    body = {"merchantOrderNo": order_no, **(extra or {})}
    body["sign"] = teemo_sign(body, sent.get("nonce", ""), key)
    response = post(base_url, QUERY, body, sent)
    assert response.status_code == 200, response.text
    return response.json()
