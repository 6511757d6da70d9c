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

const net = require('net');
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

const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})/;

/*
 * HTTP/1.1 on one persistent connection, without the http module: requests are written as prepared bytes
 * in one write, responses are parsed here (status line, headers, then a Content-Length or chunked body).
 * Requests may be pipelined: the answer to a POST and the next `GET next` go out in one write, and the
 * answers are matched to them in order (bytes of one answer may arrive with the end of the previous one).
 * The socket is unref'd while nothing is asked, as http.Agent does with free sockets, so an idle
 * connection does not keep the event loop alive: callbackWaitsForEmptyEventLoop relies on 'beforeExit'.
 */
class Connection {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.sock = null;
    this.used = false; // the socket has completed an exchange: a close before any answer may be a stale keep-alive
    this.inflight = []; // exchanges written on this socket, oldest first: {data, resolve, reject, retried}
    this.readBuf = null; // every read lands here: no buffer is allocated per read
    this.resetParser();
  }

  resetParser() {
    this.head = null; // bytes of an incomplete head
    this.res = null; // {status, headers, body} once the head is parsed
    this.len = -1; // body bytes expected (-1: chunked or until close)
    this.chunked = false;
    this.body = null; // a Content-Length body that spans reads, filled in place
    this.parts = null; // pieces of other bodies
    this.got = 0;
    this.chunkRest = null; // unparsed bytes of a chunked body
    this.closeAfter = false;
  }

  /* Resolves {status, headers, body}; rejects on network errors. */
  exchange(data) {
    return new Promise((resolve, reject) => this.send({ data, resolve, reject, retried: false }));
  }

  /* Two requests written at once (wire: both requests' bytes); resolves the two answers in order. */
  exchange2(a, b, wire) {
    let second;
    const first = new Promise((resolveA, rejectA) => {
      second = new Promise((resolveB, rejectB) => {
        this.send({ data: a, resolve: resolveA, reject: rejectA, retried: false }, wire);
        this.send({ data: b, resolve: resolveB, reject: rejectB, retried: false }, null);
      });
    });
    return [first, second];
  }

  /* Writes x's request (or wire instead; null: already written) and waits for its answer in turn. */
  send(x, wire = x.data) {
    if (!this.sock) {
      if (this.readBuf === null) this.readBuf = Buffer.allocUnsafe(65536);
      // Only the current socket matters: one dropped earlier may still report data or its close.
      const sock = net.connect({
        port: this.port,
        host: this.host,
        onread: { buffer: this.readBuf, callback: (n, buf) => this.onData(sock, buf.subarray(0, n)) },
      });
      sock.setNoDelay(true);
      sock.on('error', (err) => this.onGone(sock, err));
      sock.on('close', () => this.onGone(sock, null));
      this.sock = sock;
      this.used = false;
    } else if (this.inflight.length === 0) {
      this.sock.ref();
    }
    this.inflight.push(x);
    const d = wire;
    if (d === null) return;
    if (Array.isArray(d)) {
      this.sock.cork();
      for (const part of d) this.sock.write(part);
      this.sock.uncork();
    } else {
      this.sock.write(d);
    }
  }

  /* The oldest exchange got its answer (or failed). */
  finish(err, res) {
    const x = this.inflight.shift();
    this.resetParser();
    if (this.inflight.length === 0 && this.sock) this.sock.unref();
    if (err) x.reject(err);
    else x.resolve(res);
  }

  dropSocket() {
    const sock = this.sock;
    if (!sock) return;
    this.sock = null;
    sock.destroy();
  }

  /* The socket closed or failed: the exchanges written on it that have no answer yet go out once more on a
   * new connection if this one had served an exchange already (the server closed a kept-alive connection),
   * else they fail. An answer cut in the middle fails, except a body delimited by the end of the connection. */
  onGone(sock, err) {
    if (sock !== this.sock) return;
    this.dropSocket();
    const pending = this.inflight;
    this.inflight = [];
    const e = err || Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    let first = 0;
    if (pending.length > 0 && (this.res !== null || this.head !== null)) {
      first = 1;
      if (this.res !== null && this.len < 0 && !this.chunked) {
        const res = this.res;
        res.body = this.bodyString();
        this.used = true;
        pending[0].resolve(res);
      } else {
        pending[0].reject(e);
      }
    }
    this.resetParser();
    const retry = this.used;
    for (let i = first; i < pending.length; i++) {
      const x = pending[i];
      if (retry && !x.retried) {
        x.retried = true;
        this.send(x);
      } else {
        x.reject(e);
      }
    }
  }

  /* chunk is a view of the read buffer, valid until the next read: what the parser keeps, it copies. */
  onData(sock, chunk) {
    // Bytes nothing asked for, or that follow an answer after which the server closes, are ignored.
    while (chunk.length > 0 && this.inflight.length > 0 && this.sock === sock) chunk = this.feed(chunk);
  }

  /* Parses bytes of the oldest exchange's answer; returns what follows that answer when it is complete. */
  feed(chunk) {
    if (this.res === null) {
      const buf = this.head === null ? chunk : Buffer.concat([this.head, chunk]);
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        if (buf.length > 65536) this.fail(new Error('response head too large'));
        else this.head = buf === chunk ? Buffer.from(chunk) : buf;
        return EMPTY;
      }
      this.head = null;
      if (!this.parseHead(buf.toString('latin1', 0, end))) {
        this.fail(new Error('malformed response head'));
        return EMPTY;
      }
      chunk = buf.subarray(end + 4);
      if (this.len === 0) {
        this.complete('');
        return chunk;
      }
    }
    if (this.chunked) return this.onChunked(chunk);
    if (this.len < 0) {
      this.addPart(Buffer.from(chunk)); // until the connection closes
      return EMPTY;
    }
    const take = Math.min(this.len - this.got, chunk.length);
    if (this.body === null) {
      if (take === this.len) {
        // The whole body is in this read (the common case): decoded from the read buffer.
        this.complete(chunk.toString('utf8', 0, take));
        return chunk.subarray(take);
      }
      this.body = Buffer.allocUnsafe(this.len);
    }
    chunk.copy(this.body, this.got, 0, take);
    this.got += take;
    if (this.got < this.len) return EMPTY;
    this.complete(this.body.toString('utf8'));
    return chunk.subarray(take);
  }

  addPart(b) {
    if (this.parts === null) this.parts = [b];
    else this.parts.push(b);
    this.got += b.length;
  }

  parseHead(text) {
    const m = STATUS_LINE.exec(text);
    if (!m) return false;
    const status = +m[1];
    const headers = {};
    let i = text.indexOf('\r\n');
    while (i >= 0) {
      const start = i + 2;
      i = text.indexOf('\r\n', start);
      const line = i < 0 ? text.slice(start) : text.slice(start, i);
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const name = line.slice(0, c).toLowerCase();
      const value = line.slice(c + 1).trim();
      headers[name] = headers[name] === undefined ? value : headers[name] + ', ' + value;
    }
    this.res = { status, headers, body: '' };
    const te = headers['transfer-encoding'];
    if (te !== undefined && te.toLowerCase().includes('chunked')) {
      this.chunked = true;
    } else if (headers['content-length'] !== undefined) {
      this.len = parseInt(headers['content-length'], 10);
      if (!(this.len >= 0)) return false;
    } else if (status === 204 || status === 304 || status < 200) {
      this.len = 0;
    }
    const conn = headers.connection;
    this.closeAfter = (conn !== undefined && conn.toLowerCase() === 'close') || (this.len < 0 && !this.chunked);
    return true;
  }

  onChunked(chunk) {
    let buf = this.chunkRest === null ? chunk : Buffer.concat([this.chunkRest, chunk]);
    for (;;) {
      const eol = buf.indexOf('\r\n');
      if (eol < 0) break;
      const size = parseInt(buf.toString('latin1', 0, eol), 16);
      if (!(size >= 0)) {
        this.fail(new Error('malformed chunk'));
        return EMPTY;
      }
      if (size === 0) {
        // The last chunk, then trailers (none expected) up to an empty line.
        const end = buf.indexOf(CRLF2, eol);
        if (end < 0) break;
        this.complete(this.bodyString());
        return buf.subarray(end + 4);
      }
      if (buf.length < eol + 2 + size + 2) break;
      this.addPart(Buffer.from(buf.subarray(eol + 2, eol + 2 + size)));
      buf = buf.subarray(eol + 2 + size + 2);
    }
    this.chunkRest = buf.length > 0 ? Buffer.from(buf) : null;
    return EMPTY;
  }

  bodyString() {
    const parts = this.parts;
    if (parts === null) return '';
    return (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString('utf8');
  }

  complete(body) {
    const res = this.res;
    res.body = body;
    this.used = true;
    if (this.closeAfter) {
      // The server closes after this answer: what else was asked goes out again on a new connection.
      this.dropSocket();
      const rest = this.inflight.splice(1);
      this.finish(null, res);
      for (const x of rest) this.send(x);
      return;
    }
    this.finish(null, res);
  }

  fail(err) {
    this.dropSocket();
    const rest = this.inflight.splice(1);
    this.finish(err);
    for (const x of rest) x.reject(err);
  }
}

class RuntimeClient {
  constructor(api) {
    Object.assign(this, parseRuntimeApi(api));
    this.conn = new Connection(this.host, this.port);
    this.commonHeaders = `Host: ${this.hostHeader}\r\nUser-Agent: nimbus-nodejs/${process.version}\r\n`;
    this.nextText = `GET ${this.base}/invocation/next HTTP/1.1\r\n${this.commonHeaders}\r\n`;
    this.nextRequest = Buffer.from(this.nextText, 'utf8');
    this.pendingNext = null; // a GET next already written after the last answer
  }

  /* A POST on the persistent connection, or with fresh=true on a connection of its own (used when the
   * process is about to exit and the persistent one may be in the middle of an exchange). */
  postRequest(p, body, extraHeaders, fresh) {
    const n = Buffer.byteLength(body, 'utf8');
    const head =
      `POST ${this.base}${p} HTTP/1.1\r\n${this.commonHeaders}${extraHeaders}` +
      `Content-Type: application/json\r\nContent-Length: ${n}\r\n${fresh ? 'Connection: close\r\n' : ''}\r\n`;
    // Small bodies ride in the head's string; large ones follow it in the same corked (writev) write,
    // without copying the body into a joined buffer first.
    const small = n < 65536;
    const data = small ? head + body : [head, body];
    if (fresh) return new Connection(this.host, this.port).exchange(data);
    // On the persistent connection a post answers an invocation, and the loop asks for the next one
    // right after: that GET goes out in the same write (one system call here, one read on the server),
    // pipelined behind the post, whose answer comes first.
    const [answer, next] = this.conn.exchange2(
      data,
      this.nextRequest,
      small ? head + body + this.nextText : [head, body, this.nextRequest],
    );
    next.catch(NOOP); // awaited by next(); a failure is reported there, not as an unhandled rejection
    this.pendingNext = next;
    return answer;
  }

  async next() {
    let res;
    const pending = this.pendingNext;
    this.pendingNext = null;
    try {
      res = await (pending || this.conn.exchange(this.nextRequest));
    } catch (e) {
      fatal(`GET next failed: ${e.message}`);
    }
    if (res.status !== 200) fatal(`GET next returned ${res.status}: ${res.body}`);
    return res;
  }

  /* POST a JSON body; never rejects (a failed post ends the process, like a dead Runtime API). */
  async post(p, body, extraHeaders, fresh) {
    let res;
    try {
      res = await this.postRequest(p, body, extraHeaders, fresh);
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
    return this.post(`/invocation/${encodeURIComponent(id)}/response`, body, '');
  }

  postInvocationError(error, id, fresh) {
    const r = toRapidResponse(error);
    return this.post(
      `/invocation/${encodeURIComponent(id)}/error`,
      JSON.stringify(r),
      `${ERROR_TYPE_HEADER}: ${headerSafe(r.errorType)}\r\n`,
      fresh,
    );
  }

  postInitError(error) {
    const r = toRapidResponse(error);
    return this.post('/init/error', JSON.stringify(r), `${ERROR_TYPE_HEADER}: ${headerSafe(r.errorType)}\r\n`, true);
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
  // abandon ends the invocation without an answer from the handler: an error
  // that escaped it is being reported, so whatever the handler returns later is ignored.
  const abandon = () => {
    setBeforeExit(NOOP);
    finished = completed = true;
  };
  return { callback: once(callback), context, markCompleted: () => (completed = true), abandon };
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

/* The invocation's trace id is process.env._X_AMZN_TRACE_ID, but it is not put in the C environment:
 * glibc's setenv keeps every distinct "name=value" string it was given until the process ends (its
 * known_values tree), so a new trace id per invoke leaks about 160 MB per million invokes, more than a
 * 128 MB instance has, and each setenv searches that growing tree. process.env becomes a proxy of the
 * real environment that holds this one variable in JavaScript; everything else goes to the real one,
 * and a child process started with the default environment still gets it (through ownKeys). */
const TRACE_VAR = '_X_AMZN_TRACE_ID';
const traceEnv = { id: undefined };
function installTraceEnv() {
  const real = process.env;
  if (real[TRACE_VAR] !== undefined) {
    traceEnv.id = real[TRACE_VAR];
    delete real[TRACE_VAR];
  }
  process.env = new Proxy(real, {
    get: (t, k) => (k === TRACE_VAR ? traceEnv.id : t[k]),
    set: (t, k, v) => {
      if (k === TRACE_VAR) traceEnv.id = `${v}`;
      else t[k] = v;
      return true;
    },
    has: (t, k) => (k === TRACE_VAR ? traceEnv.id !== undefined : k in t),
    deleteProperty: (t, k) => {
      if (k === TRACE_VAR) traceEnv.id = undefined;
      else delete t[k];
      return true;
    },
    ownKeys: (t) => {
      const keys = Reflect.ownKeys(t);
      if (traceEnv.id !== undefined) keys.push(TRACE_VAR);
      return keys;
    },
    getOwnPropertyDescriptor: (t, k) => {
      if (k !== TRACE_VAR) return Reflect.getOwnPropertyDescriptor(t, k);
      if (traceEnv.id === undefined) return undefined;
      return { value: traceEnv.id, writable: true, enumerable: true, configurable: true };
    },
    defineProperty: (t, k, d) => {
      if (k !== TRACE_VAR) return Reflect.defineProperty(t, k, d);
      traceEnv.id = `${d.value}`;
      return true;
    },
  });
}

// The context's fixed fields, read from the environment once rather than per invoke.
let fixedContext;

function attachEnvironmentData(context, headers) {
  traceEnv.id = headers['lambda-runtime-trace-id'] || undefined;
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  if (fixedContext === undefined) {
    fixedContext = {
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    };
  }
  return Object.assign(context, fixedContext, {
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

    const { callback, context, markCompleted, abandon } = buildCallbackContext(this.client, id, this.scheduleIteration);
    try {
      // Errors that escape the handler end the process after they are reported (AWS exits 129/128).
      this.errorCallbacks.uncaughtException = (err) => {
        abandon();
        return this.client.postInvocationError(err, id, true).then(() => process.exit(129));
      };
      this.errorCallbacks.unhandledRejection = (err) => {
        abandon();
        return this.client.postInvocationError(err, id, true).then(() => process.exit(128));
      };
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
  installTraceEnv();
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
