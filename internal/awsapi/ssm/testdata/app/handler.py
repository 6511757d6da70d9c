import os

import boto3
from botocore.exceptions import ClientError

ssm = boto3.client("ssm")


def env(event, context):
    return {k: os.environ.get(k) for k in ("DB_URL", "API_KEY", "HOSTS", "MODE")}


def read(event, context):
    try:
        p = ssm.get_parameter(Name=event["name"], WithDecryption=True)["Parameter"]
        return {"value": p["Value"], "type": p["Type"], "version": p["Version"]}
    except ClientError as e:
        return {"error": e.response["Error"]["Code"]}
