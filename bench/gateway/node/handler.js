'use strict';

module.exports.hello = async () => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'hello', items: [1, 2, 3], ok: true }),
});
