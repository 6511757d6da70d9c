// A TOKEN authorizer: API Gateway passes the Authorization header as
// authorizationToken and expects an IAM policy for the method.
exports.handler = async (event) => {
  const token = (event.authorizationToken || '').replace(/^Bearer /, '');
  if (token === 'deny') return policy('anonymous', 'Deny', event.methodArn, {});
  if (token.startsWith('allow-')) return policy(token, 'Allow', event.methodArn, { user: token.slice(6) });
  throw new Error('Unauthorized');
};

function policy(principalId, effect, resource, context) {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
    context,
  };
}
