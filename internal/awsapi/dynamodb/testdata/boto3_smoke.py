"""A boto3 app as users write it (the Table resource and boto3.dynamodb.conditions),
run against nimbus; prints OK when every step behaved as on DynamoDB."""
import sys
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

# The endpoint and the key come from the environment (AWS_ENDPOINT_URL,
# AWS_ACCESS_KEY_ID ...), as `eval "$(nimbus env)"` sets them.
ddb = boto3.resource("dynamodb", endpoint_url=sys.argv[1])
table = ddb.create_table(
    TableName="boto-notes",
    KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"}, {"AttributeName": "ts", "AttributeType": "N"}],
    BillingMode="PAY_PER_REQUEST",
)
table.wait_until_exists()
assert table.table_status == "ACTIVE", table.table_status

with table.batch_writer() as batch:
    for i in range(30):
        batch.put_item(Item={"user": "ann", "ts": i, "text": f"note {i}", "tags": {"a", "b"}, "score": Decimal("1.5")})

got = table.get_item(Key={"user": "ann", "ts": 3})["Item"]
assert got["text"] == "note 3" and got["tags"] == {"a", "b"} and got["score"] == Decimal("1.5"), got

res = table.query(KeyConditionExpression=Key("user").eq("ann") & Key("ts").between(10, 14),
                  FilterExpression=Attr("text").begins_with("note"), ScanIndexForward=False)
assert [int(i["ts"]) for i in res["Items"]] == [14, 13, 12, 11, 10], res["Items"]

upd = table.update_item(Key={"user": "ann", "ts": 3}, UpdateExpression="SET score = score + :d ADD tags :t",
                        ExpressionAttributeValues={":d": Decimal("0.25"), ":t": {"c"}}, ReturnValues="UPDATED_NEW")
assert upd["Attributes"]["score"] == Decimal("1.75") and upd["Attributes"]["tags"] == {"a", "b", "c"}, upd

try:
    table.put_item(Item={"user": "ann", "ts": 3}, ConditionExpression=Attr("user").not_exists())
    raise SystemExit("conditional put succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ConditionalCheckFailedException", e.response

items, kwargs = [], {}
while True:
    page = table.scan(Limit=7, **kwargs)
    items += page["Items"]
    if "LastEvaluatedKey" not in page:
        break
    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
assert len(items) == 30, len(items)

table.delete()
print("OK")
