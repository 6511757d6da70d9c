'use strict';

const pad = require('leftpad-lite');

exports.asyncHandler = async (event, context) => {
  console.log('async handler got', JSON.stringify(event));
  return {
    style: 'async',
    padded: pad(String(event.n || 7), 3),
    context: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      logGroupName: context.logGroupName,
      logStreamName: context.logStreamName,
      remaining: context.getRemainingTimeInMillis(),
      callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
    },
    env: {
      APP_MODE: process.env.APP_MODE,
      FUNCTION_ONLY: process.env.FUNCTION_ONLY,
      AWS_REGION: process.env.AWS_REGION,
      TZ: process.env.TZ,
      LAMBDA_TASK_ROOT: process.env.LAMBDA_TASK_ROOT,
      _HANDLER: process.env._HANDLER,
    },
  };
};

exports.promiseHandler = (event) => new Promise((resolve) => setTimeout(() => resolve({ style: 'promise', echo: event }), 5));

exports.callbackHandler = (event, context, callback) => {
  setTimeout(() => callback(null, { style: 'callback', echo: event }), 5);
};

// With callbackWaitsForEmptyEventLoop false the answer goes out before the timer fires.
exports.noWait = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => console.log('late timer'), 1500);
  callback(null, { style: 'no-wait' });
};

exports.nested = { deep: { fn: async () => ({ style: 'nested' }) } };

class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}

exports.thrower = async (event) => {
  throw new ValidationError(`bad input: ${event.field || 'unknown'}`);
};

exports.sleeper = async (event) => {
  await new Promise((resolve) => setTimeout(resolve, event.ms || 3000));
  return { slept: event.ms || 3000 };
};

exports.crasher = async () => {
  console.log('about to crash');
  process.exit(7);
};
