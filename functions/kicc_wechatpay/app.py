"""KICC WeChat Pay sweeper: the Lambda entry point, triggered by its EventBridge schedule."""

from kicc_adapter import KiccWechatPayAdapter
from paysweep.runtime import lambda_handler_for

lambda_handler = lambda_handler_for(KiccWechatPayAdapter.from_environment)
