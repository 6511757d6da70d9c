import json


def me(event, context):
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    return {"user": claims["sub"], "claims": claims, "scopes": event["requestContext"]["authorizer"]["jwt"]["scopes"]}


def items(event, context):
    if event["requestContext"]["http"]["method"] == "POST":
        item = json.loads(event["body"])
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Request-Count": "1"},
            "body": json.dumps({"created": item}),
        }
    return {"id": event["pathParameters"]["id"], "query": event.get("queryStringParameters")}
