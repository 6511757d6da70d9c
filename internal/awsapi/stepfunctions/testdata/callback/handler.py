_sfn = None


def approve(event, context):
    # boto3 is imported on first use, not at init (its import can be slow
    # under load).
    global _sfn
    if _sfn is None:
        import boto3
        _sfn = boto3.client("stepfunctions")
    from botocore.exceptions import ClientError
    token = event["token"]
    try:
        _sfn.send_task_failure(taskToken=token, error="Nope")
        denied = "none"
    except ClientError as e:
        denied = e.response["Error"]["Code"]
    _sfn.send_task_heartbeat(taskToken=token)
    import json
    _sfn.send_task_success(taskToken=token, output=json.dumps({"order": event["order"], "failureDenied": denied}))
    return {}
