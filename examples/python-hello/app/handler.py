import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)


class PaymentDeclined(Exception):
    pass


def hello(event, context):
    print("hello from python", json.dumps(event))
    logger.info("logged with the logging module")
    return {
        "message": "%s, %s!" % (os.environ.get("GREETING", "Hello"), event.get("name", "world")),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }


def fail(event, context):
    raise PaymentDeclined("card %s was declined" % event.get("card", "?"))
