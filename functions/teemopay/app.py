"""TeemoPay Korea payin sweeper: the Lambda entry point, triggered by its EventBridge schedule."""

from paysweep.runtime import lambda_handler_for
from teemopay_adapter import TeemoPayAdapter

lambda_handler = lambda_handler_for(TeemoPayAdapter.from_environment)
