import { hostname } from 'node:os';

export const handler = async (event, context) => ({ style: 'esm', module: 'type-module', requestId: context.awsRequestId, host: typeof hostname() });
