import os
import sys


def handler(event, context):
    return {"endpoint": os.environ.get("AWS_ENDPOINT_URL", ""), "sysPath": sys.path, "taskRoot": os.environ["LAMBDA_TASK_ROOT"]}
