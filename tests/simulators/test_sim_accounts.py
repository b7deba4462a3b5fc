"""Each simulator serves several merchant accounts of its provider, each with its own credentials.

Two accounts per provider: each request is verified with its own account's credentials, a request
made as one account never reaches another's payment, revoking one account leaves the others alone,
and the product's multi-account secret configures a simulator that knows every account in it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from paysweep_local.providers import BY_ID, PROVIDERS
from paysweep_local.simulators import KiccSimulator, ManualClock, TeemoPaySimulator, TossSimulator
from paysweep_local.simulators import kicc as k
from paysweep_local.simulators.keys import (
    RsaKeyPair,
    account_keys,
    generate_rsa_keypair,
    kicc_secret,
    merchant_keys,
    platform_keys,
    teemopay_secret,
    toss_secret,
)
from simtest_support import FIND, MALL, REVISE, SECRET, find, kst_day, new_key, post, revise_body, teemo_query

MALL_B, SECRET_B = "M0000002", "test-kicc-secret-of-mall-b"
APP_B, PAIR_B = "APP0002", generate_rsa_keypair()
TOSS_A, TOSS_B = "test_sk_accountsTestsShopA000001", "test_sk_accountsTestsShopB000002"


# -- KICC: a mall is a mallId with its own secretKey -----------------------------------------------


@pytest.fixture
def malls(clock: ManualClock) -> Iterator[KiccSimulator]:
    with KiccSimulator(mall_id=MALL, secret_key=SECRET, clock=clock, accounts={MALL_B: SECRET_B}) as sim:
        sim.add_payment("PG-A", "ORDER-A", 1000)
        sim.add_payment("PG-B", "ORDER-B", 2000, account=MALL_B)
        yield sim
        assert not sim.errors, sim.errors


def kicc_cancel(sim: KiccSimulator, pg_cno: str, mall: str, secret: str) -> dict[str, Any]:
    body = revise_body(pg_cno, new_key("C"), kst_day(sim._clock()), secret=secret, mallId=mall)
    response = post(sim.base_url, REVISE, body)
    assert response.status_code == 200, response.text
    return response.json()


def test_kicc_each_mall_is_served_with_its_own_key(malls: KiccSimulator) -> None:
    assert find(malls.base_url, "PG-A")["mallId"] == MALL
    answer = find(malls.base_url, "PG-B", mallId=MALL_B)
    assert (answer["resCd"], answer["mallId"], answer["amountInfo"]["totAmount"]) == ("0000", MALL_B, 2000)
    accepted = kicc_cancel(malls, "PG-B", MALL_B, SECRET_B)
    assert (accepted["resCd"], accepted["mallId"]) == ("0000", MALL_B)
    assert kicc_cancel(malls, "PG-A", MALL, SECRET)["resCd"] == "0000"
    assert [r.account for r in malls.requests_for(REVISE)] == [MALL_B, MALL]
    assert all(r.account == r.body["mallId"] for r in malls.requests)
    assert malls.expected_auth("PG-B", "K1") == k.msg_auth_value(SECRET_B, "PG-B", "K1")


def test_kicc_another_malls_payment_is_not_found_nor_its_key_accepted(malls: KiccSimulator) -> None:
    assert find(malls.base_url, "PG-B")["resCd"] == k.RES_UNKNOWN_PGCNO  # mall A asks for mall B's payment
    assert find(malls.base_url, "PG-A", mallId=MALL_B)["resCd"] == k.RES_UNKNOWN_PGCNO
    assert kicc_cancel(malls, "PG-B", MALL, SECRET)["resCd"] == k.RES_UNKNOWN_PGCNO
    assert kicc_cancel(malls, "PG-B", MALL_B, SECRET)["resCd"] == k.RES_BAD_AUTH  # mall A's key for mall B
    assert find(malls.base_url, "PG-B", mallId="M0000009")["resCd"] == k.RES_BAD_MALL
    view = malls.payment("PG-B")
    assert (view.status, view.cancel_requests, view.lookups) == (k.TS_APPROVED, 1, 0)  # only its own mall's
    assert kicc_cancel(malls, "PG-B", MALL_B, SECRET_B)["resCd"] == "0000"


def test_kicc_idempotency_keys_are_each_malls_own(malls: KiccSimulator) -> None:
    key = new_key("Q")
    assert find(malls.base_url, "PG-A", key=key)["resCd"] == "0000"
    assert find(malls.base_url, "PG-B", key=key, mallId=MALL_B)["resCd"] == "0000"
    assert find(malls.base_url, "PG-B", key=key, mallId=MALL_B)["resCd"] == k.RES_DUPLICATE_KEY


def test_kicc_revoking_one_mall_leaves_the_other_working(malls: KiccSimulator) -> None:
    malls.revoke(MALL_B)
    assert find(malls.base_url, "PG-B", mallId=MALL_B)["resCd"] == k.RES_BAD_MALL
    assert kicc_cancel(malls, "PG-B", MALL_B, SECRET_B)["resCd"] == k.RES_BAD_MALL
    assert find(malls.base_url, "PG-A")["resCd"] == "0000"
    malls.revoked.discard(MALL_B)
    malls.revoke()  # the default mall
    assert find(malls.base_url, "PG-A")["resCd"] == k.RES_BAD_MALL
    assert find(malls.base_url, "PG-B", mallId=MALL_B)["resCd"] == "0000"
    assert malls.payment("PG-B").status == k.TS_APPROVED


def test_kicc_an_unknown_mall_can_neither_have_payments_nor_be_revoked(malls: KiccSimulator) -> None:
    with pytest.raises(ValueError, match="unknown account"):
        malls.add_payment("PG-X", "ORDER-X", 1000, account="M0000009")
    with pytest.raises(ValueError, match="unknown account"):
        malls.revoke("M0000009")


def test_kicc_one_mall_is_named_on_every_kept_request(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("PG1", "O1", 1000, account=MALL)  # naming the default mall is the default
    assert find(kicc_sim.base_url, "PG1")["mallId"] == MALL
    assert post(kicc_sim.base_url, FIND, {"pgCno": "PG1"}).json()["resCd"] == k.RES_BAD_REQUEST
    assert [r.account for r in kicc_sim.requests] == [MALL, None]


# -- TeemoPay: an application is an app_code with its own RSA key ----------------------------------


@pytest.fixture
def apps(clock: ManualClock) -> Iterator[TeemoPaySimulator]:
    with TeemoPaySimulator(clock=clock, accounts={APP_B: PAIR_B.public_pem}) as sim:
        sim.add_order("ORD-A", 1000)
        sim.add_order("ORD-B", 2000, account=APP_B)
        yield sim
        assert not sim.errors, sim.errors


def teemo(sim: TeemoPaySimulator, order: str, app: str, signer: RsaKeyPair) -> dict[str, Any]:
    return teemo_query(sim.base_url, order, signer.private_key(), sim._clock(), headers={"app_code": app})


def test_teemopay_each_application_is_verified_with_its_own_key(apps: TeemoPaySimulator) -> None:
    assert teemo(apps, "ORD-A", "APP0001", merchant_keys())["data"]["transactionAmount"] == "1000.00"
    answer = teemo(apps, "ORD-B", APP_B, PAIR_B)
    assert answer["code"] == 200 and answer["data"]["merchantOrderNo"] == "ORD-B"
    assert answer["data"]["amount"] == "2000.00"
    assert [r.account for r in apps.requests] == ["APP0001", APP_B]
    assert apps.order("ORD-B").queries == 1


def test_teemopay_another_applications_key_or_order_is_refused(apps: TeemoPaySimulator) -> None:
    assert teemo(apps, "ORD-B", APP_B, merchant_keys())["msg"] == "sign verify failed"  # APP0001's key
    assert teemo(apps, "ORD-A", "APP0001", PAIR_B)["msg"] == "sign verify failed"
    assert teemo(apps, "ORD-A", APP_B, PAIR_B)["code"] == 434  # APP0001's order, asked for by APP0002
    assert teemo(apps, "ORD-B", "APP0001", merchant_keys())["code"] == 434
    assert teemo(apps, "ORD-B", "APP0009", PAIR_B)["code"] == 416
    assert (apps.order("ORD-A").queries, apps.order("ORD-B").queries) == (0, 0)


def test_teemopay_revoking_one_application_leaves_the_other_working(apps: TeemoPaySimulator) -> None:
    apps.revoke(APP_B)
    assert teemo(apps, "ORD-B", APP_B, PAIR_B)["code"] == 416
    assert teemo(apps, "ORD-A", "APP0001", merchant_keys())["code"] == 200
    apps.revoked.clear()
    assert teemo(apps, "ORD-B", APP_B, PAIR_B)["code"] == 200


# -- Toss Payments: a shop is a secret key with its own mId ----------------------------------------


@pytest.fixture
def shops(clock: ManualClock) -> Iterator[TossSimulator]:
    with TossSimulator(secret_key=TOSS_A, clock=clock, accounts={TOSS_B: "shop-b"}) as sim:  # plain HTTP here
        sim.add_payment("ORDER-A-1", 15000, payment_key="pk-a")
        sim.add_payment("ORDER-B-1", 30000, payment_key="pk-b", account=TOSS_B)
        yield sim
        assert not sim.errors, sim.errors


def toss_call(sim: TossSimulator, path: str, secret: str, idempotency_key: str = "") -> requests.Response:
    headers = {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}
    if path.endswith("/cancel"):
        headers |= {"Idempotency-Key": idempotency_key or secrets.token_hex(8)}
        return requests.post(sim.base_url + path, json={"cancelReason": "test"}, headers=headers, timeout=5)
    return requests.get(sim.base_url + path, headers=headers, timeout=5)


def test_toss_each_shop_is_served_with_its_own_key(shops: TossSimulator) -> None:
    own = toss_call(shops, "/v1/payments/orders/ORDER-A-1", TOSS_A).json()
    assert (own["mId"], own["paymentKey"], own["totalAmount"]) == ("tosspayments", "pk-a", 15000)
    other = toss_call(shops, "/v1/payments/pk-b", TOSS_B).json()
    assert (other["mId"], other["orderId"], other["totalAmount"]) == ("shop-b", "ORDER-B-1", 30000)
    cancelled = toss_call(shops, "/v1/payments/pk-b/cancel", TOSS_B)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELED"
    assert [r.account for r in shops.requests] == [TOSS_A, TOSS_B, TOSS_B]


def test_toss_another_shops_payment_is_not_found(shops: TossSimulator) -> None:
    for path in ("/v1/payments/orders/ORDER-B-1", "/v1/payments/pk-b", "/v1/payments/pk-b/cancel"):
        answer = toss_call(shops, path, TOSS_A, "same-key")
        assert (answer.status_code, answer.json()["code"]) == (404, "NOT_FOUND_PAYMENT"), path
    unknown = toss_call(shops, "/v1/payments/pk-a", "test_sk_nobodysKey")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "UNAUTHORIZED_KEY")
    assert [r.account for r in shops.requests][-1] == "test_sk_nobodysKey"
    view = shops.payment("ORDER-B-1")
    assert (view.status, view.cancel_requests, view.queries) == ("DONE", 0, 0)
    # shop A's refused cancel kept nothing under its Idempotency-Key: shop B's own cancel is processed
    assert toss_call(shops, "/v1/payments/pk-b/cancel", TOSS_B, "same-key").json()["status"] == "CANCELED"


def test_toss_revoking_one_shop_leaves_the_other_working(shops: TossSimulator) -> None:
    shops.revoke(TOSS_B)
    assert toss_call(shops, "/v1/payments/pk-b", TOSS_B).json()["code"] == "UNAUTHORIZED_KEY"
    assert toss_call(shops, "/v1/payments/pk-a", TOSS_A).json()["status"] == "DONE"


# -- the product's multi-account secrets ----------------------------------------------------------


def test_single_account_secrets_are_unchanged() -> None:
    assert kicc_secret() == {"mallId": k.DEFAULT_MALL_ID, "secretKey": k.DEFAULT_SECRET_KEY}
    assert "accounts" not in teemopay_secret() and set(toss_secret()) == {"secretKey"}


def test_multi_account_secrets_add_accounts_of_the_same_fields() -> None:
    kicc = kicc_secret(accounts=("seller-b", "seller.c"))
    assert kicc["accounts"] == {
        "seller-b": {"mallId": "M0000002", "secretKey": k.DEFAULT_SECRET_KEY + "-seller-b"},
        "seller.c": {"mallId": "M0000003", "secretKey": k.DEFAULT_SECRET_KEY + "-seller.c"},
    }
    teemopay = teemopay_secret(accounts="seller-b")  # one merchant id may be given as a string
    account = teemopay["accounts"]["seller-b"]
    assert set(account) == set(teemopay) - {"accounts"} and account["appCode"] == APP_B
    assert account["privateKey"] == account_keys("seller-b").private_pkcs8_b64 != teemopay["privateKey"]
    assert account["platformPublicKey"] == platform_keys().public_b64
    toss = toss_secret(accounts=["seller-b"])
    assert toss["accounts"]["seller-b"]["mId"] == "shop-02"
    assert toss["accounts"]["seller-b"]["secretKey"] not in (toss["secretKey"], "")
    for merchant in ("", "x" * 33, "seller b", "셀러"):
        with pytest.raises(ValueError, match="merchant id"):
            kicc_secret(accounts=[merchant])
    with pytest.raises(ValueError, match="merchant id"):
        toss_secret(accounts=["seller-b", "seller-b"])


@pytest.mark.parametrize("provider", [p.id for p in PROVIDERS])
def test_each_factory_configures_every_account_of_the_secret(provider: str, clock: ManualClock) -> None:
    local = BY_ID[provider]
    single = local.simulator(local.secret(), clock, {})
    assert single.accounts == {}
    sim = local.simulator(local.secret(accounts=("seller-b", "seller-c")), clock, {})
    assert len(sim.accounts) == 2 and sim.default_account not in sim.accounts


def test_a_multi_account_secret_makes_simulators_accept_each_account(clock: ManualClock) -> None:
    kicc = kicc_secret(accounts=("seller-b",))
    with BY_ID["kicc-wechatpay"].simulator(kicc, clock, {}) as sim:
        b = kicc["accounts"]["seller-b"]
        sim.add_payment("PG-B", "O-B", 1000, account=b["mallId"])
        assert kicc_cancel(sim, "PG-B", b["mallId"], b["secretKey"])["resCd"] == "0000"
    pair = generate_rsa_keypair()
    teemopay = teemopay_secret(pair, accounts=("seller-b",))
    with BY_ID["teemopay"].simulator(teemopay, clock, {}) as sim:
        sim.add_order("ORD-B", 1000, account=APP_B)
        assert teemo(sim, "ORD-B", APP_B, account_keys("seller-b"))["code"] == 200
    toss = toss_secret(accounts=("seller-b",))
    with BY_ID["toss-payments"].simulator(toss, clock, {}) as sim:
        b = toss["accounts"]["seller-b"]
        sim.add_payment("ORDER-B-1", 1000, payment_key="pk-b", account=b["secretKey"])
        assert toss_call(sim, "/v1/payments/pk-b", b["secretKey"]).json()["mId"] == "shop-02"
