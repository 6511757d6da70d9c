// An ES module: NODE_PATH does not apply to import, yet the platform's SDK resolves as on Lambda.
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';

const sqs = new SQSClient();
const sns = new SNSClient();
const events = new EventBridgeClient();
const lambda = new LambdaClient();

export const handler = async (event) => {
  const from = event.from;
  await sqs.send(new SendMessageCommand({ QueueUrl: process.env.QUEUE_URL, MessageBody: JSON.stringify({ via: 'sqs', from }) }));
  await sns.send(new PublishCommand({ TopicArn: process.env.TOPIC_ARN, Message: JSON.stringify({ via: 'sns', from }) }));
  const put = await events.send(new PutEventsCommand({
    Entries: [{ EventBusName: process.env.BUS_NAME, Source: 'nimbus.sdk-test', DetailType: 'call', Detail: JSON.stringify({ via: 'events', from }) }],
  }));
  if (put.FailedEntryCount) throw new Error('PutEvents failed: ' + JSON.stringify(put.Entries));
  const out = await lambda.send(new InvokeCommand({ FunctionName: process.env.TARGET_FUNCTION, Payload: JSON.stringify({ from }) }));
  if (out.FunctionError) throw new Error('target failed: ' + Buffer.from(out.Payload).toString());
  return { from, target: JSON.parse(Buffer.from(out.Payload).toString()) };
};
