/*
 * nimbus Node.js runtime client: module resolve hook, registered by bootstrap.js before it imports an ES
 * module handler.
 *
 * ES module resolution does not read NODE_PATH, yet on Lambda an ES module imports the AWS SDK the runtime
 * provides. When normal resolution cannot find a bare specifier ('@aws-sdk/client-sqs'), this hook tries again
 * from each node_modules folder on NODE_PATH, in order. A package's own node_modules is searched first by the
 * normal resolution, so a function that ships its own SDK gets its own.
 */
let parents = [];

export async function initialize(data) {
  parents = (data && data.parents) || [];
}

function isBare(specifier) {
  return !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.includes(':');
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (!err || err.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) throw err;
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (_) {
        // not there either: try the next folder
      }
    }
    throw err;
  }
}
