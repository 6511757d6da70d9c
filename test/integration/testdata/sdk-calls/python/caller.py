"""boto3 from the platform's SDK folder, configured by the environment alone."""
import json
import os

import boto3

sqs = boto3.client("sqs")
sns = boto3.client("sns")
events = boto3.client("events")
lam = boto3.client("lambda")


def handler(event, context):
    frm = event["from"]
    sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps({"via": "sqs", "from": frm}))
    sns.publish(TopicArn=os.environ["TOPIC_ARN"], Message=json.dumps({"via": "sns", "from": frm}))
    put = events.put_events(Entries=[{
        "EventBusName": os.environ["BUS_NAME"], "Source": "nimbus.sdk-test", "DetailType": "call",
        "Detail": json.dumps({"via": "events", "from": frm}),
    }])
    if put.get("FailedEntryCount"):
        raise RuntimeError("PutEvents failed: %r" % put["Entries"])
    out = lam.invoke(FunctionName=os.environ["TARGET_FUNCTION"], Payload=json.dumps({"from": frm}))
    payload = out["Payload"].read()
    if out.get("FunctionError"):
        raise RuntimeError("target failed: %s" % payload)
    return {"from": frm, "target": json.loads(payload), "boto3": boto3.__version__}
