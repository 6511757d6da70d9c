"""A boto3 client run against nimbus's Step Functions API: create, start,
wait, read history, start a synchronous EXPRESS execution; prints OK."""
import json
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# StartSyncExecution goes to a "sync-" host on AWS; a local endpoint has none.
sfn = boto3.client("stepfunctions", endpoint_url=sys.argv[1], config=Config(inject_host_prefix=False))
definition = json.dumps({"StartAt": "Add", "States": {"Add": {"Type": "Pass",
    "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "End": True}}})
role = "arn:aws:iam::000000000000:role/r"
arn = sfn.create_state_machine(name="adder", definition=definition, roleArn=role)["stateMachineArn"]
run = sfn.start_execution(stateMachineArn=arn, name="one", input='{"a": 2, "b": 3}')
deadline = time.time() + 60
while True:
    d = sfn.describe_execution(executionArn=run["executionArn"])
    if d["status"] != "RUNNING":
        break
    assert time.time() < deadline, "still RUNNING"
    time.sleep(0.05)
assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"sum": 5}, d
events = sfn.get_execution_history(executionArn=run["executionArn"])["events"]
assert [e["type"] for e in events] == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"], events
try:
    sfn.describe_execution(executionArn=arn.replace("stateMachine", "execution") + ":none")
    raise AssertionError("no error")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ExecutionDoesNotExist", e.response
    assert isinstance(e, sfn.exceptions.ExecutionDoesNotExist)

express = sfn.create_state_machine(name="adder-express", definition=definition, roleArn=role, type="EXPRESS")
out = sfn.start_sync_execution(stateMachineArn=express["stateMachineArn"], input='{"a": 1, "b": 1}')
assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"sum": 2}, out
print("OK")
