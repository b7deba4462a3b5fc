"""Every Toss Payments behaviour the reference does not settle, in one place.

Each `[GAP TOSS-...]` below is a point PROVIDERS-toss.md marks **[GAP]** (or leaves to us) that the
adapter relies on: the assumption made, and the code that uses it (`GAPS` lists them all, with
where they are used; a unit test keeps those names real). When Toss confirms or contradicts one,
this module is the code that changes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import NamedTuple


class Gap(NamedTuple):
    name: str
    reference: str
    """Where PROVIDERS-toss.md leaves it open."""
    assumption: str
    used_in: tuple[str, ...]
    """`module.name` of the code that relies on it."""


# -- [GAP TOSS-STATUSES] which statuses the lookup returns, and what each means to us -------------
# T.2 [GAP], T-GAP 2: any of the 8 statuses can come back. READY and IN_PROGRESS end by
# themselves (30 and 10 min, T.3); WAITING_FOR_DEPOSIT waits for a deposit. None is paid.
PENDING_STATUSES = frozenset({"READY", "IN_PROGRESS", "WAITING_FOR_DEPOSIT"})
# [GAP TOSS-VA-EXPIRY] T.3 [GAP], T-GAP 4: what a virtual account becomes after its `dueDate` is
# undocumented (EXPIRED, CANCELED, or WAITING_FOR_DEPOSIT with `expired: true`). The reference
# reads all three as "expired unpaid". EXPIRED and a WAITING_FOR_DEPOSIT (expired or not) are read
# as not paid: the order stays pending until its own `expiresAt`, then the engine decides FAILED
# EXPIRED (and audits it, so a late deposit is still found). The normalised vocabulary has no
# "expired now" state (see the report); a CANCELED one is the provider's cancel (T.9.1's row).
UNPAID_FINAL_STATUSES = frozenset({"EXPIRED"})
APPROVED_STATUS = "DONE"
CANCELED_STATUS = "CANCELED"
PARTIAL_CANCELED_STATUS = "PARTIAL_CANCELED"
DECLINED_STATUS = "ABORTED"
DEPOSITED_STATUSES = frozenset({APPROVED_STATUS, PARTIAL_CANCELED_STATUS})
"""Statuses in which a virtual account holds the customer's deposit (see TOSS-VA-REFUND)."""

# -- [GAP TOSS-ERRORS] error classes (T.6: two third-party transcriptions, their union; T-GAP 6, 7,
# 15). Classified by `code` only, never by `message`. An unknown code is RETRY (T-GAP 6): asked
# again until the order's (or the cancel's) deadline, then REVIEW. A body that is not Toss's error
# object (a gateway's 502 page) is RETRY too (T-GAP 15). -----------------------------------------
NOT_FOUND = "NOT_FOUND"
CONFIG = "CONFIG"
RETRY = "RETRY"
REFUSED = "REFUSED"
ALREADY_CANCELLED = "ALREADY_CANCELLED"
REQUERY = "REQUERY"
UNKNOWN = "UNKNOWN"

CONFIG_CODES = frozenset({
    "UNAUTHORIZED_KEY", "INCORRECT_BASIC_AUTH_FORMAT", "INVALID_API_KEY", "INVALID_REQUEST",
    "INVALID_IDEMPOTENCY_KEY",
})
"""Our key or our request is wrong (T.1, T.5, T.6): no decision, an operator must act."""
RETRY_CODES = frozenset({
    "FORBIDDEN_CONSECUTIVE_REQUEST", "PROVIDER_ERROR", "IDEMPOTENT_REQUEST_PROCESSING", "NOT_AVAILABLE_BANK",
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", "FAILED_INTERNAL_SYSTEM_PROCESSING", "FAILED_REFUND_PROCESS",
    "FAILED_METHOD_HANDLING_CANCEL", "FAILED_PARTIAL_REFUND", "COMMON_ERROR",
})
"""Transient (T.6's RETRY class): the same request later, a cancel under the same key."""
THROTTLED_CODES = frozenset({"FORBIDDEN_CONSECUTIVE_REQUEST"})
"""[GAP TOSS-RATE] T.1, T-GAP 1: no documented rate limit; this 403 is Toss's "too often"."""
LOOKUP_NOT_FOUND_CODES = frozenset({"NOT_FOUND_PAYMENT", "NOT_FOUND"})
"""[GAP TOSS-NOT-FOUND] T.2 [GAP], T-GAP 2 and 16: a lookup before the customer opens checkout
answers 404 NOT_FOUND_PAYMENT, so "not found" means "not paid (yet)": pending until the order
expires, then FAILED EXPIRED. A live order looked up with a test key (or another shop's key)
looks the same; the secret's key prefix and optional `mId` are the guards (`SECRET_KEY`)."""
LOOKUP_UNKNOWN_CODES = frozenset({"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN_BELOW_AMOUNT"})
"""Listed under the lookup by one transcription but meaningless for a GET (T.6: UNKNOWN)."""
CANCEL_ALREADY_CODES = frozenset({"ALREADY_CANCELED_PAYMENT", "ALREADY_REFUND_PAYMENT"})
"""T.6 STATE, T.9.3 step 4: the payment is cancelled already (by us, under a lost answer, or by
someone else): the cancel counts as accepted and is confirmed by lookup, never believed alone."""
CANCEL_REQUERY_CODES = frozenset({"NOT_MATCHES_REFUNDABLE_AMOUNT", "NOT_FOUND_PAYMENT"})
"""T.6 STATE codes a lookup settles: asked again later (the engine confirms by lookup first)."""
CANCEL_REFUSED_CODES = frozenset({
    "INVALID_REFUND_ACCOUNT_INFO", "INVALID_REFUND_ACCOUNT_NUMBER", "INVALID_BANK",
    "EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT", "REFUND_REJECTED", "FORBIDDEN_BANK_REFUND_REQUEST",
    "NOT_CANCELABLE_AMOUNT", "NOT_CANCELABLE_PAYMENT", "FORBIDDEN_REQUEST", "EXCEED_MAX_REFUND_DUE",
    "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT", "NOT_ALLOWED_PARTIAL_REFUND",
    "NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER", "EXCEED_CANCEL_LIMIT",
})
"""Permanent for this cancel (T.6 REFUSED): a person must act (REVIEW CANCEL_REFUSED). The
lookup made just before the cancel already ruled out an earlier success (T.9.3 step 4)."""


def lookup_error_class(http_status: int, code: str) -> str:
    """The class of a lookup's error object (T.6 lookup table, T.9.1)."""
    if code in LOOKUP_NOT_FOUND_CODES:
        return NOT_FOUND
    if code in CONFIG_CODES or http_status == 401:
        return CONFIG
    if code in LOOKUP_UNKNOWN_CODES:
        return UNKNOWN
    return RETRY  # RETRY_CODES, any 409 or 5xx, and an unknown code (T-GAP 6)


def cancel_error_class(http_status: int, code: str) -> str:
    """The class of a cancel's error object (T.6 cancel table, T.9.3 step 4)."""
    if code in CANCEL_ALREADY_CODES:
        return ALREADY_CANCELLED
    if code in CANCEL_REQUERY_CODES:
        return REQUERY
    if code in CANCEL_REFUSED_CODES:
        return REFUSED
    if code in CONFIG_CODES or http_status == 401:
        return CONFIG
    return RETRY  # RETRY_CODES, 409 IDEMPOTENT_REQUEST_PROCESSING, 5xx, an unknown code (T-GAP 6)


# -- [GAP TOSS-AMOUNTS] T.8, T-GAP 12 -------------------------------------------------------------
# Amounts are JSON numbers in the major unit, parsed exactly (never a float). KRW has no minor unit:
# a fractional KRW amount is an answer we do not understand (UNRECOGNISED), never rounded. Other
# currencies (USD, PHP, the unexplained MUSD) are taken as given and never rescaled: they cannot
# match a KRW order (CURRENCY_MISMATCH). `balanceAmount == totalAmount - sum(cancels with
# cancelStatus DONE)` is checked where a decision rests on it (a partial cancel's note); a
# confirmed cancel needs `balanceAmount` 0 and a DONE cancel (nothing still charged);
# `suppliedAmount + vat + taxFreeAmount == balanceAmount` is a tax breakdown no decision rests on:
# not relied on.
WHOLE_UNIT_CURRENCIES = frozenset({"KRW"})
CURRENCY_CODE = re.compile(r"[A-Z]{3,8}")
"""A currency as Toss names it: ISO 4217 and the odd `MUSD` (T.8); 8 is the outcome schema's bound."""


def fits_reported_currency(amount: Decimal, currency: str) -> bool:
    """False for a KRW amount with a fraction ([GAP TOSS-AMOUNTS])."""
    return currency not in WHOLE_UNIT_CURRENCIES or amount == amount.to_integral_value()


# -- [GAP TOSS-CANCEL-STATUS] T.3 [GAP], T-GAP 9: only `cancelStatus == "DONE"` counts as cancelled
# money; an entry with any other (undocumented) value is not counted.
CANCEL_DONE = "DONE"

# -- [GAP TOSS-INTEGRITY] T.9.1's integrity list, split in two. An approval's amount or currency
# differing from the order is a mismatch (APPROVED with what Toss reports: the engine cancels it, or
# for a virtual account, which the answer marks not cancellable, REVIEW AMOUNT_MISMATCH /
# CURRENCY_MISMATCH, see TOSS-VA-REFUND); so is a DONE whose balanceAmount (what it still charges)
# is not its totalAmount, reported as the balance. A DONE that contradicts itself or us (another
# orderId, no paymentKey, no approvedAt, cancels listed, no balanceAmount, an amount that does not
# parse) is an answer we do not understand: UNRECOGNISED, never cancelled on, REVIEW
# UNKNOWN_PROVIDER_STATE if it lasts to the order's expiry.

# -- [GAP TOSS-DONE-REVERSAL] T.7, T-GAP 5: a virtual account's DONE can rarely fall back to
# WAITING_FOR_DEPOSIT. A DONE is approved at once (no delay window); the answer's detail says
# "virtual account" so the history shows it.

# -- [GAP TOSS-VA-REFUND] T.4, T.9.3 step 2, T-GAP 11: a deposited virtual account can only be
# refunded to the customer's bank account, which paysweep does not have (the widget's
# `refundReceiveAccount` is readable for 30 min only, and whether its masked values are accepted is
# unknown). Such a payment (`virtualAccount` non-null: `method` is never read, T-GAP 13; status DONE
# or PARTIAL_CANCELED, DEPOSITED_STATUSES) is answered with `cancellable=False`, so the engine never
# decides to cancel it: a mismatch goes to REVIEW AMOUNT_MISMATCH / CURRENCY_MISMATCH, an approval
# the table refuses to REVIEW DB_UPDATE_FAILED, a late deposit found by an audit to REVIEW
# LATE_PAYMENT (PARTIAL_CANCELED is REVIEW PARTIAL_CANCEL anyway). As a second line of defence the
# canceller still refuses a deposited virtual account on its lookup (REVIEW CANCEL_REFUSED), and
# nothing is sent to Toss's cancel.

# -- [GAP TOSS-CANCEL-EDGE] T.4 [GAP], T-GAP 10: cancelling READY, IN_PROGRESS, WAITING_FOR_DEPOSIT,
# ABORTED or EXPIRED payments, or the rest of a PARTIAL_CANCELED one, is never attempted: the
# canceller refuses (REVIEW CANCEL_REFUSED) rather than guess what Toss would do.

# -- [GAP TOSS-IDEMPOTENCY] T.5 [GAP], T-GAP 8: any answer to a keyed cancel may be a replay of the
# first, errors included, and a key lives 15 days from its first use (calendar days or 15 x 24 h is
# unknown). One key per cancel intent, derived from the order (so a sweep that could not record its
# intent still never sends a second key), reused on every retry; a cancel is believed only once a
# lookup shows it; an intent's deadline is at most 14 days after it was decided, so no retry ever
# outlives its key (T.9.3 step 5).
IDEMPOTENCY_KEY_MAX = 300
CANCEL_DEADLINE_CAP = timedelta(days=14)


def cancel_key(order_id: str, generation: int) -> str:
    """The `Idempotency-Key` of the order's cancel: `paysweep:{orderId}:cancel:{n}`, n the number of the
    order's decision (generation + 1: a late payment's cancel, in the next generation, gets its own)."""
    return f"paysweep:{order_id}:cancel:{generation + 1}"


# -- [GAP TOSS-SECRET] T.1, T.9.4 (our proposal), T-GAP 16: the secret is `{"secretKey": ...}`, with an
# optional `mId` (the shop id: when given, an answer naming another shop is not trusted). A key is
# a test key when it starts with `test_`, a live key with `live_`; anything else is refused, and the
# key holds no ':' (the Basic user ends at the first one).
SECRET_KEY = re.compile(r"(?:test|live)_[\x21-\x39\x3b-\x7e]{1,200}")
MID = re.compile(r"[\x21-\x7e]{1,14}")

# -- [GAP TOSS-REF-LENGTH] not Toss's gap, the contract's fit: `paymentKey` may be 200 chars and a
# transaction key 64 (T.3), the outcome's `providerRefs` values 60 (docs/schemas/outcome-v1.json).
# Every observed key is shorter (50 and 32 chars). A longer one is left out of `providerRefs`
# (never cut: a cut key names nothing) and stays in the answer's detail.
REF_MAX_LENGTH = 60

# -- [GAP TOSS-VA-WINDOW] T.3 leaves a virtual account's `dueDate` to the merchant. Toss's SDK
# documentation (pub.dev tosspayments_widget_sdk_flutter, PaymentData.validHours) gives 168 h
# (7 days) by default, 720 h at most: the profile's default window is 7 days (toss_profile.PROFILE).

GAPS: tuple[Gap, ...] = (
    Gap("TOSS-STATUSES", "T.2 [GAP]; T-GAP 2",
        "Any of the 8 statuses can come back from the lookup; an unknown or missing status is UNRECOGNISED.",
        ("toss_assumptions.PENDING_STATUSES", "toss_adapter.payment_answer")),
    Gap("TOSS-NOT-FOUND", "T.2 [GAP]; T-GAP 2, 16",
        "404 NOT_FOUND_PAYMENT / NOT_FOUND means not paid (yet): pending until the order expires, then FAILED "
        "EXPIRED. An environment mix-up looks the same; the key prefix and the optional mId guard it.",
        ("toss_assumptions.lookup_error_class", "toss_adapter.parse_lookup")),
    Gap("TOSS-ATTEMPTS", "T.2 [GAP]; T-GAP 3",
        "The orders route returns one Payment, the latest attempt; one naming another orderId is UNRECOGNISED.",
        ("toss_adapter.payment_answer",)),
    Gap("TOSS-VA-EXPIRY", "T.3 [GAP]; T-GAP 4",
        "EXPIRED and WAITING_FOR_DEPOSIT (expired or not) are unpaid: FAILED EXPIRED at the order's expiry; "
        "CANCELED is the provider's cancel (CANCELLED PROVIDER_CANCELLED).",
        ("toss_assumptions.UNPAID_FINAL_STATUSES", "toss_adapter.payment_answer")),
    Gap("TOSS-VA-WINDOW", "T.3 (dueDate set by the merchant)",
        "Orders without expiresAt are polled 7 days (validHours' default, per Toss's SDK documentation).",
        ("toss_profile.PROFILE",)),
    Gap("TOSS-DONE-REVERSAL", "T.7; T-GAP 5",
        "A DONE is approved at once, virtual accounts included; the detail notes a virtual account.",
        ("toss_adapter.payment_answer",)),
    Gap("TOSS-INTEGRITY", "T.9.1 (integrity list)",
        "Amount, currency or a DONE's balanceAmount differing: a mismatch (cancel; REVIEW for a deposited virtual "
        "account). A DONE that contradicts itself or us (orderId, paymentKey, approvedAt, cancels): UNRECOGNISED.",
        ("toss_adapter.payment_answer",)),
    Gap("TOSS-AMOUNTS", "T.8 [GAP]; T-GAP 12",
        "Exact decimals; fractional KRW is UNRECOGNISED; other currencies never rescaled; a confirmed cancel "
        "needs balanceAmount 0 and a DONE cancel; the tax breakdown is not relied on.",
        ("toss_assumptions.fits_reported_currency", "toss_adapter.parse_payment", "toss_adapter.confirmation")),
    Gap("TOSS-ERRORS", "T.6 [GAP]; T-GAP 6, 7, 15",
        "The union of the transcribed tables, classified by code; an unknown code and a non-JSON error body "
        "are RETRY (REVIEW at the deadline).",
        ("toss_assumptions.lookup_error_class", "toss_assumptions.cancel_error_class")),
    Gap("TOSS-RATE", "T.1 [GAP]; T-GAP 1",
        "No documented limit: 403 FORBIDDEN_CONSECUTIVE_REQUEST is retried later; the project's timeouts stand.",
        ("toss_assumptions.THROTTLED_CODES",)),
    Gap("TOSS-IDEMPOTENCY", "T.5 [GAP]; T-GAP 8",
        "One key per cancel intent, from the order, reused on retries; any answer may be a replay, so a cancel "
        "is believed only by lookup; a cancel's deadline is at most 14 days (the key lives 15).",
        ("toss_assumptions.cancel_key", "toss_adapter.TossPaymentsAdapter.new_intent")),
    Gap("TOSS-CANCEL-STATUS", "T.3 [GAP]; T-GAP 9",
        "Only cancels with cancelStatus DONE count as cancelled money.",
        ("toss_adapter.TossPayment.cancelled_total",)),
    Gap("TOSS-CANCEL-EDGE", "T.4 [GAP]; T-GAP 10",
        "Only a DONE card-like payment is sent to cancel; any other status is refused by the canceller.",
        ("toss_adapter.before_cancel",)),
    Gap("TOSS-VA-REFUND", "T.4; T.9.3 step 2; T-GAP 11",
        "A deposited virtual account (DONE, PARTIAL_CANCELED) is answered cancellable=False and never sent to "
        "cancel (no refund account): REVIEW with the real reason (AMOUNT_MISMATCH, CURRENCY_MISMATCH, "
        "DB_UPDATE_FAILED, LATE_PAYMENT); the canceller refuses it too (CANCEL_REFUSED) as a second line.",
        ("toss_assumptions.DEPOSITED_STATUSES", "toss_adapter.refundable_by_cancel", "toss_adapter.before_cancel")),
    Gap("TOSS-ACCEPT-LANGUAGE", "T.1 [GAP]; T-GAP 13",
        "Accept-Language is not sent; `method` is never read (virtual accounts are told by `virtualAccount`).",
        ("toss_adapter.TossPaymentsAdapter.check_payment", "toss_adapter.before_cancel")),
    Gap("TOSS-SECRET", "T.1; T.9.4; T-GAP 16",
        "Secret {secretKey: test_…|live_…, mId?}; no ':' in the key; an answer for another mId is UNRECOGNISED.",
        ("toss_assumptions.SECRET_KEY", "toss_adapter.credentials")),
    Gap("TOSS-REF-LENGTH", "T.3 lengths vs the outcome schema",
        "A paymentKey or transaction key over 60 chars is left out of providerRefs (kept in the detail).",
        ("toss_adapter.published_refs", "toss_adapter.TossPaymentsAdapter.cancel_refs")),
)
