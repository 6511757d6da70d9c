_sfn = None


def start(event, context):
    # boto3 is imported on first use, not at init (its import can be slow
    # under load).
    global _sfn
    if _sfn is None:
        import boto3
        _sfn = boto3.client("stepfunctions")
    from botocore.exceptions import ClientError
    try:
        out = _sfn.start_execution(stateMachineArn=event["arn"], input='{"from": "function"}')
        return {"executionArn": out["executionArn"]}
    except ClientError as e:
        return {"error": e.response["Error"]["Code"]}
