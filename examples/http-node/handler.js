'use strict';

// Echoes the event it received, so callers can see what API Gateway sent.
module.exports.echo = async (event) => {
  const q = event.queryStringParameters || {};
  const body = { event };
  if (q.pad) {
    body.pad = 'x'.repeat(Number(q.pad));
  }
  const response = {
    statusCode: Number(q.status || 200),
    headers: { 'content-type': 'application/json', 'x-handler': 'echo' },
    body: JSON.stringify(body),
  };
  if (event.version === '2.0') {
    response.cookies = ['session=abc; Path=/', 'theme=dark'];
  } else {
    response.multiValueHeaders = { 'x-multi': ['one', 'two'] };
  }
  return response;
};

// Returns the uploaded image unchanged.
module.exports.image = async (event) => {
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body || '');
  return {
    statusCode: 200,
    headers: { 'content-type': 'image/png' },
    body: bytes.toString('base64'),
    isBase64Encoded: true,
  };
};

module.exports.fail = async () => {
  throw new Error('something broke');
};

module.exports.malformed = async () => 'this is not a proxy response';

module.exports.slow = async () => {
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return { statusCode: 200, body: 'late' };
};
