exports.hello = async (event) => {
  const auth = (event.requestContext && event.requestContext.authorizer) || {};
  return {
    statusCode: 200,
    body: JSON.stringify({ path: event.path, user: auth.user || null, principal: auth.principalId || null }),
  };
};
