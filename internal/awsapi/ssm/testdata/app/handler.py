import os

_ssm = None


def env(event, context):
    return {k: os.environ.get(k) for k in ("DB_URL", "API_KEY", "HOSTS", "MODE")}


def read(event, context):
    # boto3 is imported on first use, not at init: under load its import can
    # outlast Lambda's 10 s init limit, while the invocation has `timeout`.
    global _ssm
    if _ssm is None:
        import boto3
        _ssm = boto3.client("ssm")
    from botocore.exceptions import ClientError
    try:
        p = _ssm.get_parameter(Name=event["name"], WithDecryption=True)["Parameter"]
        return {"value": p["Value"], "type": p["Type"], "version": p["Version"]}
    except ClientError as e:
        return {"error": e.response["Error"]["Code"]}
