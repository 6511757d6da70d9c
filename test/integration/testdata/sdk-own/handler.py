import os

import boto3  # packaged: this one wins
import botocore  # not packaged: the platform's


def handler(event, context):
    return {
        "boto3Own": getattr(boto3, "OWN", False),
        "botocoreFile": botocore.__file__,
        "taskRoot": os.environ["LAMBDA_TASK_ROOT"],
    }
