import json

_sfn = None


def work(event, context):
    # Each message carries a task token: the worker completes it with what
    # it did, with its own credentials.
    global _sfn
    if _sfn is None:
        import boto3
        _sfn = boto3.client("stepfunctions")
    for record in event["Records"]:
        body = json.loads(record["body"])
        _sfn.send_task_success(taskToken=body["token"], output=json.dumps(
            {"worked": body["id"], "qty": body["qty"], "messageId": record["messageId"]}))
    return {}
