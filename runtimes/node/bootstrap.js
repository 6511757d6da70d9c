/*
 * nimbus Node.js runtime client.
 *
 * Speaks the Lambda Runtime API (http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/...) and loads the
 * handler named by _HANDLER from LAMBDA_TASK_ROOT. It follows the behaviour of AWS's own client
 * (aws-lambda-nodejs-runtime-interface-client 3.x): handler resolution, callback/promise semantics,
 * callbackWaitsForEmptyEventLoop through the process 'beforeExit' event, error shapes, console patching.
 *
 * Standard library only, CommonJS, one file: nothing is loaded that the first `next` does not need.
 */
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const util = require('util');

const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const BEFORE_EXIT = Symbol.for('aws.lambda.beforeExit');
const NOOP = () => {};

/* ------------------------------------------------------------------ errors */

function runtimeErrorClass(name) {
  const C = class extends Error {};
  Object.defineProperty(C, 'name', { value: name });
  C.prototype.name = 'Runtime.' + name;
  return C;
}
const ImportModuleError = runtimeErrorClass('ImportModuleError');
const HandlerNotFound = runtimeErrorClass('HandlerNotFound');
const MalformedHandlerName = runtimeErrorClass('MalformedHandlerName');
const NodeJsExit = runtimeErrorClass('NodeJsExit');
class UserCodeSyntaxError extends Error {
  constructor(original) {
    super(String(original));
    // Keep the original stack: it names the file and line of the syntax error.
    if (typeof original.stack === 'string') this.stack = original.stack;
  }
}
UserCodeSyntaxError.prototype.name = 'Runtime.UserCodeSyntaxError';
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

const NODEJS_EXIT_MESSAGE =
  'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a ' +
  'Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes';

function isErrorLike(e) {
  return (
    e && e.name && e.message && e.stack &&
    typeof e.name === 'string' && typeof e.message === 'string' && typeof e.stack === 'string'
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

/* The body posted to /error and /init/error, exactly as AWS's client builds it. */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(error) {
  if (error instanceof Error) {
    const ret = Object.assign({ errorType: error.name, errorMessage: error.message, code: error.code }, error);
    if (typeof error.stack === 'string') ret.stack = error.stack.split('\n');
    return ret;
  }
  return error;
}

/* The "\t{...}" text that follows "Invoke Error" / "Uncaught Exception" in the log. */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

/* ------------------------------------------------------------------ logging */

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const JSON_LOGS = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';

function jsonErrorReplacer(_k, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: (value.constructor && value.constructor.name) || 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJsonMessage(requestId, timestamp, level, params) {
  const result = { timestamp, level, requestId };
  if (params.length === 1) {
    result.message = params[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_) {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...params);
  for (const p of params) {
    if (p instanceof Error) {
      result.errorType = (p.constructor && p.constructor.name) || 'UnknownError';
      result.errorMessage = p.message;
      result.stackTrace = typeof p.stack === 'string' ? p.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

/* One console call is one line on stdout: newlines inside the message become \r, as AWS does. */
function writeLog(level, params) {
  const time = new Date().toISOString();
  const requestId = global[REQUEST_ID];
  const line = JSON_LOGS
    ? formatJsonMessage(requestId, time, level, params)
    : `${time}\t${requestId}\t${level}\t${util.format(...params)}`;
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const min = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || LEVELS.TRACE;
  const make = (level) =>
    LEVELS[level] >= min ? (msg, ...params) => writeLog(level, [msg, ...params]) : NOOP;
  console.trace = make('TRACE');
  console.debug = make('DEBUG');
  console.info = make('INFO');
  console.log = console.info;
  console.warn = make('WARN');
  console.error = make('ERROR');
  console.fatal = (msg, ...params) => writeLog('FATAL', [msg, ...params]);
}

function logError(msg, err) {
  if (JSON_LOGS) console.error(intoError(err));
  else console.error(msg, toFormatted(intoError(err)));
}

function fatal(msg) {
  try {
    process.stderr.write(`nimbus runtime: ${msg}\n`);
  } finally {
    process.exit(1);
  }
}

/* ------------------------------------------------------------------ Runtime API client */

function parseRuntimeApi(value) {
  if (!value) fatal('AWS_LAMBDA_RUNTIME_API is not set');
  const slash = value.indexOf('/');
  const hostport = slash < 0 ? value : value.slice(0, slash);
  const prefix = slash < 0 ? '' : value.slice(slash).replace(/\/+$/, '');
  let host = hostport;
  let port = 80;
  const m = /^\[(.*)\]:(\d+)$/.exec(hostport) || /^([^:]*):(\d+)$/.exec(hostport);
  if (m) {
    host = m[1];
    port = parseInt(m[2], 10);
  } else if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
  }
  return { host, port, hostHeader: hostport, base: prefix + '/2018-06-01/runtime' };
}

function headerSafe(v) {
  return String(v).replace(/[^\t\x20-\x7e\x80-\xff]/g, '') || 'Unknown';
}

class RuntimeClient {
  constructor(api) {
    Object.assign(this, parseRuntimeApi(api));
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /* Resolves {status, headers, body}; rejects only on network errors. A request on a reused
   * keep-alive socket that the server closed meanwhile is retried once on a new connection. */
  request(method, p, headers, body, agent, retried) {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          hostname: this.host,
          port: this.port,
          method,
          path: this.base + p,
          headers: Object.assign({ Host: this.hostHeader, 'User-Agent': 'nimbus-nodejs/' + process.version }, headers),
          agent: agent === undefined ? this.agent : agent,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (e) => {
        if (!retried && req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
          resolve(this.request(method, p, headers, body, agent, true));
        } else {
          reject(e);
        }
      });
      req.end(body);
    });
  }

  async next() {
    let res;
    try {
      res = await this.request('GET', '/invocation/next', {});
    } catch (e) {
      fatal(`GET next failed: ${e.message}`);
    }
    if (res.status !== 200) fatal(`GET next returned ${res.status}: ${res.body}`);
    return res;
  }

  /* POST a JSON body; never rejects (a failed post ends the process, like a dead Runtime API). */
  async post(p, body, headers, agent) {
    const buf = Buffer.from(body, 'utf8');
    let res;
    try {
      res = await this.request(
        'POST',
        p,
        Object.assign({ 'Content-Type': 'application/json', 'Content-Length': buf.length }, headers),
        buf,
        agent,
      );
    } catch (e) {
      fatal(`POST ${p} failed: ${e.message}`);
    }
    if (res.status >= 500) fatal(`POST ${p} returned ${res.status}: ${res.body}`);
    if (res.status !== 202) process.stderr.write(`nimbus runtime: POST ${p} returned ${res.status}: ${res.body}\n`);
  }

  postInvocationResponse(result, id) {
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch (_) {
      const err = new Error('Unable to stringify response body');
      logError('Invoke Error', err);
      return this.postInvocationError(err, id);
    }
    if (body === undefined) body = 'null'; // functions and symbols
    return this.post(`/invocation/${encodeURIComponent(id)}/response`, body, {});
  }

  postInvocationError(error, id, agent) {
    const r = toRapidResponse(error);
    return this.post(`/invocation/${encodeURIComponent(id)}/error`, JSON.stringify(r), {
      [ERROR_TYPE_HEADER]: headerSafe(r.errorType),
    }, agent);
  }

  postInitError(error) {
    const r = toRapidResponse(error);
    return this.post('/init/error', JSON.stringify(r), { [ERROR_TYPE_HEADER]: headerSafe(r.errorType) }, false);
  }
}

/* ------------------------------------------------------------------ loading the handler */

function hasPackageJsonTypeModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = path.join(folder, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(pj));
        if (pkg) return pkg.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    const parent = path.dirname(folder);
    if (parent === folder) return false;
    folder = parent;
  }
}

function tryRequire(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function tryImport(file) {
  if (!fs.existsSync(file)) return undefined;
  registerNodePathForImports();
  return import(require('url').pathToFileURL(file).href);
}

/*
 * ES modules ignore NODE_PATH, where the platform puts the AWS SDK: a resolve hook (esm-node-path.mjs) looks
 * there after the module's own node_modules. Registered only for ES module handlers: the hook runs in a
 * loader thread whose start costs a CommonJS handler's cold start for nothing.
 */
let nodePathHookRegistered = false;
function registerNodePathForImports() {
  if (nodePathHookRegistered) return;
  nodePathHookRegistered = true;
  const mod = require('module');
  if (typeof mod.register !== 'function') return; // Node.js before 20.6
  const url = require('url');
  // Resolving from <dir>/.. searches <dir> first, as node_modules folders are searched.
  const parents = (process.env.NODE_PATH || '')
    .split(path.delimiter)
    .filter((d) => path.isAbsolute(d) && path.basename(d) === 'node_modules')
    .map((d) => url.pathToFileURL(path.join(path.dirname(d), 'index.js')).href);
  if (parents.length === 0) return;
  mod.register('./esm-node-path.mjs', url.pathToFileURL(__filename), { data: { parents } });
}

async function loadModule(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = tryRequire(lambdaStylePath);
  if (extensionless) return extensionless;

  const pjHasModule = hasPackageJsonTypeModule(path.dirname(lambdaStylePath));
  if (!pjHasModule) {
    const loaded = tryRequire(lambdaStylePath + '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await tryImport(lambdaStylePath + '.js'))) ||
    (await tryImport(lambdaStylePath + '.mjs')) ||
    tryRequire(lambdaStylePath + '.cjs');
  if (loaded) return loaded;

  // Fall back to node's own resolution (node_modules, NODE_PATH) relative to the task root.
  return require(require.resolve(module, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const moduleAndHandler = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(moduleAndHandler));
  const match = /^([^.]*)\.(.*)$/.exec(moduleAndHandler);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, module, handlerPath] = match;

  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const fn = handlerPath.split('.').reduce((o, k) => o && o[k], app);
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

/* ------------------------------------------------------------------ the invoke loop */

function isPromise(o) {
  return o && typeof o.then === 'function';
}

function setBeforeExit(fn) {
  global[BEFORE_EXIT] = fn;
}

/* The callback, and context.succeed/fail/done, with AWS's semantics. Only the first call counts. */
function buildCallbackContext(client, id, scheduleNext) {
  let completed = false;
  let waitForEmptyEventLoop = true;
  let finished = false;

  const postError = (err) => {
    logError('Invoke Error', err);
    client.postInvocationError(err, id).then(scheduleNext);
  };
  const complete = (result) => {
    if (completed) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completed = true;
    client.postInvocationResponse(result, id).then(scheduleNext);
  };
  const callback = (err, result) => {
    setBeforeExit(NOOP);
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      // Respond once the event loop is empty: node emits 'beforeExit' then.
      setBeforeExit(() => setImmediate(() => complete(result)));
    }
  };
  const done = (err, result) => {
    setBeforeExit(NOOP);
    if (err !== undefined && err !== null) postError(err);
    else complete(result);
  };
  const once = (fn) =>
    function () {
      if (!finished) {
        fn.apply(null, arguments);
        finished = true;
      }
    };
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(v) {
      waitForEmptyEventLoop = v;
    },
    succeed: once((result) => done(null, result)),
    fail: once((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
    done: once(done),
  };
  return { callback: once(callback), context, markCompleted: () => (completed = true) };
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function attachEnvironmentData(context, headers) {
  const trace = headers['lambda-runtime-trace-id'];
  if (trace) process.env._X_AMZN_TRACE_ID = trace;
  else delete process.env._X_AMZN_TRACE_ID;
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return Object.assign(context, {
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

class Runtime {
  constructor(client, handler, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.isAsync = !!(handler.constructor && handler.constructor.name === 'AsyncFunction');
    this.errorCallbacks = errorCallbacks;
    this.scheduleIteration = this.scheduleIteration.bind(this);
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().then(NOOP, (err) => {
        console.log(`Unexpected Top Level Error: ${err}`);
        this.errorCallbacks.uncaughtException(err);
      });
    });
  }

  async handleOnce() {
    const { body, headers } = await this.client.next();
    const id = headers['lambda-runtime-aws-request-id'];
    if (!id) fatal('next invocation has no Lambda-Runtime-Aws-Request-Id');
    global[REQUEST_ID] = id;

    const { callback, context, markCompleted } = buildCallbackContext(this.client, id, this.scheduleIteration);
    try {
      // Errors that escape the handler end the process after they are reported (AWS exits 129/128).
      this.errorCallbacks.uncaughtException = (err) => this.client.postInvocationError(err, id, false).then(() => process.exit(129));
      this.errorCallbacks.unhandledRejection = (err) => this.client.postInvocationError(err, id, false).then(() => process.exit(128));
      // If the event loop empties before the handler finished: a sync/callback handler that never
      // called back answers null; an async handler whose promise never settled is an error.
      setBeforeExit(() => {
        markCompleted();
        if (this.isAsync) {
          const err = new NodeJsExit(NODEJS_EXIT_MESSAGE);
          logError('Invoke Error', err);
          this.client.postInvocationError(err, id).then(this.scheduleIteration);
        } else {
          this.client.postInvocationResponse(null, id).then(this.scheduleIteration);
        }
      });
      const ctx = attachEnvironmentData(context, headers);
      const result = this.handler(JSON.parse(body), ctx, callback);
      if (isPromise(result)) result.then(context.succeed, context.fail).catch(context.fail);
    } catch (err) {
      callback(err);
    }
  }
}

/* ------------------------------------------------------------------ main */

async function main() {
  patchConsole();
  const client = new RuntimeClient(process.env.AWS_LAMBDA_RUNTIME_API);

  let dying = false;
  const errorCallbacks = {
    uncaughtException: (err) => client.postInitError(err).then(() => process.exit(129)),
    unhandledRejection: (err) => client.postInitError(err).then(() => process.exit(128)),
  };
  process.on('uncaughtException', (err) => {
    logError('Uncaught Exception', err);
    if (dying) return;
    dying = true;
    errorCallbacks.uncaughtException(err);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const err = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', err);
    if (dying) return;
    dying = true;
    errorCallbacks.unhandledRejection(err);
  });
  setBeforeExit(NOOP);
  process.on('beforeExit', () => global[BEFORE_EXIT]());

  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  // Like Lambda's NODE_PATH (which ends in /var/task): bare requires also resolve in the task root.
  const nodePath = process.env.NODE_PATH ? process.env.NODE_PATH.split(path.delimiter) : [];
  if (!nodePath.includes(appRoot)) {
    process.env.NODE_PATH = nodePath.concat(appRoot).join(path.delimiter);
    require('module')._initPaths();
  }

  let handler;
  try {
    handler = await loadHandler(appRoot, process.env._HANDLER || '');
  } catch (err) {
    // AWS's bootstrap lets this escape as an uncaught exception: logged, posted to /init/error, exit 129.
    process.emit('uncaughtException', err);
    return;
  }
  new Runtime(client, handler, errorCallbacks).scheduleIteration();
}

main();
