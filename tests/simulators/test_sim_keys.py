"""Local key material and secrets come in the formats the product, TeemoPay and Toss Payments use."""

from __future__ import annotations

import base64
import secrets

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from paysweep_local.simulators import KiccSimulator, ManualClock, TeemoPaySimulator, TossSimulator
from paysweep_local.simulators.keys import (
    generate_rsa_keypair,
    kicc_secret,
    kicc_simulator_kwargs,
    merchant_keys,
    platform_keys,
    teemopay_secret,
    teemopay_simulator_kwargs_for,
    toss_secret,
)
from simtest_support import FIND, find_body, hmac_hex, kst_day, post, revise_body, teemo_query


def test_keypair_spellings_describe_one_key() -> None:
    pair = generate_rsa_keypair()
    assert pair.private_pkcs8_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, not PKCS#1
    assert pair.public_pem.startswith("-----BEGIN PUBLIC KEY-----")  # X.509 SubjectPublicKeyInfo
    assert "\n" not in pair.private_pkcs8_b64 and "-----" not in pair.public_b64
    private = serialization.load_der_private_key(base64.b64decode(pair.private_pkcs8_b64), password=None)
    public = serialization.load_der_public_key(base64.b64decode(pair.public_b64))
    assert isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey)
    assert private.key_size == 1024
    assert private.public_key().public_numbers() == public.public_numbers()
    from_pem = serialization.load_pem_public_key(pair.public_pem.encode())
    assert from_pem.public_numbers() == public.public_numbers()


def test_pairs_are_cached_per_process_and_distinct_per_role() -> None:
    assert merchant_keys() is merchant_keys() and platform_keys() is platform_keys()
    assert merchant_keys().public_b64 != platform_keys().public_b64


def test_secret_formats() -> None:
    assert set(kicc_secret()) == {"mallId", "secretKey"} and len(kicc_secret()["mallId"]) <= 8
    secret = teemopay_secret()
    assert set(secret) == {"appCode", "country", "privateKey", "platformPublicKey"}
    assert secret["country"] == "KR"
    assert secret["privateKey"] == merchant_keys().private_pkcs8_b64
    assert secret["platformPublicKey"] == platform_keys().public_b64


def test_kicc_kwargs_accept_requests_made_with_the_secret() -> None:
    secret = kicc_secret(mall_id="M1234567", secret_key="s3cret")
    clock = ManualClock()
    with KiccSimulator(**kicc_simulator_kwargs(secret), clock=clock) as sim:
        sim.add_payment("PG1", "O1", 1000)
        body = revise_body("PG1", "C1", kst_day(clock()), secret="s3cret", mallId="M1234567")
        assert body["msgAuthValue"] == hmac_hex("s3cret", "PG1", "C1")
        assert post(sim.base_url, FIND, find_body("PG1", mall_id="M1234567")).json()["resCd"] == "0000"
        assert post(sim.base_url, "/api/trades/wechatpay/revise", body).json()["resCd"] == "0000"


def test_teemopay_kwargs_verify_what_the_secret_signs() -> None:
    pair = generate_rsa_keypair()
    secret = teemopay_secret(pair, app_code="APP0042")
    private = serialization.load_der_private_key(base64.b64decode(secret["privateKey"]), password=None)
    clock = ManualClock()
    pem_secret = {**secret, "privateKey": pair.private_pkcs8_pem}  # the secret may hold PEM too
    assert teemopay_simulator_kwargs_for(pem_secret) == teemopay_simulator_kwargs_for(secret)
    with TeemoPaySimulator(**teemopay_simulator_kwargs_for(secret), clock=clock) as sim:
        sim.add_order("ORD1", 1000)
        headers = {"app_code": "APP0042", "nonce": secrets.token_hex(16)}
        assert teemo_query(sim.base_url, "ORD1", private, clock(), headers=headers)["code"] == 200
        other = merchant_keys().private_key()  # the default pair: not the one configured here
        refused = teemo_query(sim.base_url, "ORD1", other, clock(), headers={"app_code": "APP0042"})
        assert refused["code"] == 414 and refused["msg"] == "sign verify failed"


def test_toss_secret_is_what_the_product_reads_and_the_simulator_accepts() -> None:
    from toss_adapter import credentials  # the product's own check of the secret (CONTRACT.md section 4)

    secret = toss_secret()
    assert set(secret) == {"secretKey"} and secret["secretKey"].startswith("test_sk_")
    authorization = credentials(secret).authorization()
    with TossSimulator(secret_key=secret["secretKey"], clock=ManualClock()) as sim:
        sim.add_payment("ORDER-1", 1000)
        url = f"{sim.base_url}/v1/payments/orders/ORDER-1"
        answer = requests.get(url, headers={"Authorization": authorization}, timeout=5)
        assert answer.status_code == 200 and answer.json()["status"] == "DONE"
        other = credentials(toss_secret("test_sk_someoneElse")).authorization()
        assert requests.get(url, headers={"Authorization": other}, timeout=5).json()["code"] == "UNAUTHORIZED_KEY"
