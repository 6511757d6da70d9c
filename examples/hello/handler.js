'use strict';

// A Lambda handler, unchanged from what runs on AWS.
module.exports.hello = async (event, context) => {
  const name = (event && event.name) || 'world';
  console.log(`greeting ${name}`);
  return {
    message: `${process.env.GREETING}, ${name}!`,
    requestId: context.awsRequestId,
    function: context.functionName,
  };
};
