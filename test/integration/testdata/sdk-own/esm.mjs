import { own } from '@aws-sdk/client-sqs'; // packaged: this one wins
import { SNSClient } from '@aws-sdk/client-sns'; // not packaged: the platform's
export const handler = async () => ({ sqsOwn: own === true, snsFromPlatform: typeof SNSClient === 'function' });
