'use strict';

let calls = 0;

// HTTP API Lambda authorizer with simple responses.
module.exports.simple = async (event) => {
  calls += 1;
  const token = event.headers.authorization || '';
  return {
    isAuthorized: token === 'allow',
    context: { user: 'alice', calls },
  };
};

// REST API REQUEST authorizer answering with an IAM policy.
module.exports.policy = async (event) => {
  calls += 1;
  const token = event.headers.Authorization || '';
  if (token === 'unauthorized') {
    throw new Error('Unauthorized');
  }
  return {
    principalId: 'user-1',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{
        Action: 'execute-api:Invoke',
        Effect: token === 'allow' ? 'Allow' : 'Deny',
        Resource: event.methodArn.split('/').slice(0, 2).join('/') + '/*',
      }],
    },
    context: { user: 'bob', calls },
  };
};
