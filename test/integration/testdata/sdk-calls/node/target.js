// Invoked by the callers through the Lambda API.
exports.handler = async (event) => ({ echoed: event.from, by: process.env.AWS_LAMBDA_FUNCTION_NAME });
