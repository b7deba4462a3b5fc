"""Toss Payments sweeper: the Lambda entry point, triggered by its EventBridge schedule."""

from paysweep.runtime import lambda_handler_for
from toss_adapter import TossPaymentsAdapter

lambda_handler = lambda_handler_for(TossPaymentsAdapter.from_environment)
