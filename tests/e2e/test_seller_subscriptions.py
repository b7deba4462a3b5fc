"""Several merchant accounts on the stack `sam deploy` created: a seller's subscription filters on
the `merchantId` message attribute, and receives that seller's outcomes only.

The stack's secrets hold a default and two more accounts per provider (conftest.py), the
simulators check each account's credentials; MiniStack runs the function and applies the SNS
filter policy of the subscription, as SNS does."""

from __future__ import annotations

import json
import time

from e2e.deployed import TEEMO, E2EStack
from e2e.orders import write_order
from e2e.outcomes import Subscriber
from paysweep_local.simulators import teemopay
from support.scenarios import simulator_account


def test_a_sellers_filter_policy_on_merchant_id_delivers_its_outcomes_only(
    stack: E2EStack, subscriber: Subscriber
) -> None:
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName="e2e-seller-b")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = stack.topic_arn("APPROVED")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True,
                                 Attributes={"FilterPolicy": json.dumps({"merchantId": ["seller-b"]})})
    try:
        orders = {"E2E-MA-B": "seller-b", "E2E-MA-C": "seller-c", "E2E-MA-DEF": None}
        for order_id, merchant in orders.items():
            stack.teemopay.add_order(order_id, "1000", script=[teemopay.paid()],
                                     account=simulator_account(stack.local, TEEMO, merchant))
            write_order(stack, order_id, TEEMO, merchant_id=merchant)
        assert stack.invoke(TEEMO).summary["outcomes"] == {"APPROVED": 3}
        for order_id, merchant in orders.items():  # everyone's subscriber gets all three
            assert subscriber.wait_for(order_id, 15).get("merchantId") == merchant
        deadline, seller = time.monotonic() + 10, []
        while time.monotonic() < deadline and not seller:
            seller = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        time.sleep(2)  # anything else for this queue would have arrived by now
        seller += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        delivered = [json.loads(json.loads(m["Body"])["Message"]) for m in seller]
        assert [(m["orderId"], m["merchantId"]) for m in delivered] == [("E2E-MA-B", "seller-b")]
    finally:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        sqs.delete_queue(QueueUrl=url)
