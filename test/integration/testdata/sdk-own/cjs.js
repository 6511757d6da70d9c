const sqs = require('@aws-sdk/client-sqs'); // packaged: this one wins
const sns = require('@aws-sdk/client-sns'); // not packaged: the platform's
exports.handler = async () => ({ sqsOwn: sqs.own === true, snsFromPlatform: typeof sns.SNSClient === 'function' });
