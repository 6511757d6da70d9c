exports.handler = async () => ({
  endpoint: process.env.AWS_ENDPOINT_URL || '',
  region: process.env.AWS_REGION || '',
  nodePath: process.env.NODE_PATH || '',
});
