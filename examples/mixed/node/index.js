exports.handler = async (event) => ({ runtime: 'node', version: process.version, input: event });
