"""nimbus Python runtime client.

Speaks the Lambda Runtime API (http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/...) and runs the
handler named by _HANDLER from LAMBDA_TASK_ROOT, following AWS's awslambdaric: handler loading and its
Runtime.* errors, the error document and its log record, the LambdaContext, the root-logger handler.

bootstrap.py is the entry file; it imports this module so that its compiled form can be cached.
Standard library only, and lean at start: the HTTP client is a small HTTP/1.1 keep-alive client on
_socket (the socket and http.client modules cost more than the whole rest), JSON goes through the _json
accelerator directly (the json package pulls in re), and logging and traceback are imported only when
something needs them.
"""

import os
import sys
import time
import _socket

_THIS_FILE = os.path.abspath(__file__)
_request_id = None

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

LAMBDA_UNHANDLED_EXCEPTION_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)


class FaultException(Exception):
    def __init__(self, exception_type, msg, trace=None):
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


# ---------------------------------------------------------------- JSON

def _ensure_ascii():
    # AWS's marshaller writes non-ASCII characters as they are from python3.12 on, escaped before.
    env = os.environ.get("AWS_EXECUTION_ENV") or ""
    if env.startswith("AWS_Lambda_python3."):
        try:
            return int(env[len("AWS_Lambda_python3."):]) < 12
        except ValueError:
            pass
    return True


_ENSURE_ASCII = _ensure_ascii()


class _SlowPath(Exception):
    pass


def _default(o):
    if o.__class__.__name__ == "Decimal" and o.__class__.__module__ in ("decimal", "_decimal", "_pydecimal"):
        raise _SlowPath()
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _float_repr(f):
    if f != f:
        return "NaN"
    if f == float("inf"):
        return "Infinity"
    if f == -float("inf"):
        return "-Infinity"
    return float.__repr__(f)


def _py_dumps(o, encode_str, markers):
    """Same output as json.dumps(o), plus Decimal as a raw number (as AWS's simplejson encoder does)."""
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, str):
        return encode_str(o)
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float_repr(o)
    if isinstance(o, (list, tuple, dict)):
        if id(o) in markers:
            raise ValueError("Circular reference detected")
        markers.add(id(o))
        try:
            if isinstance(o, dict):
                items = []
                for k, v in o.items():
                    if isinstance(k, str):
                        pass
                    elif isinstance(k, float):
                        k = _float_repr(k)
                    elif k is True:
                        k = "true"
                    elif k is False:
                        k = "false"
                    elif k is None:
                        k = "null"
                    elif isinstance(k, int):
                        k = int.__repr__(k)
                    else:
                        raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")
                    items.append(encode_str(k) + ": " + _py_dumps(v, encode_str, markers))
                return "{" + ", ".join(items) + "}"
            return "[" + ", ".join(_py_dumps(v, encode_str, markers) for v in o) + "]"
        finally:
            markers.discard(id(o))
    try:
        _default(o)
    except _SlowPath:
        return "NaN" if o.is_nan() else str(o)


try:
    import _json

    class _ScanContext:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
        memo = None

    _scan_once = _json.make_scanner(_ScanContext())
    _encode_str = _json.encode_basestring_ascii
    if _ENSURE_ASCII is False:
        _encode_str = _json.encode_basestring

    def _dumps(o):
        enc = _json.make_encoder({}, _default, _encode_str, None, ": ", ", ", False, False, True)
        try:
            return "".join(enc(o, 0))
        except _SlowPath:
            return _py_dumps(o, _encode_str, set())

    def _loads(b):
        try:
            s = b.decode("utf-8") if isinstance(b, (bytes, bytearray)) else b
            ws = " \t\n\r"
            n = len(s)
            i = n - len(s.lstrip(ws))
            obj, end = _scan_once(s, i)
            while end < n and s[end] in ws:
                end += 1
            if end == n:
                return obj
        except Exception:
            pass
        import json  # slow path: the exact json.loads result or error

        return json.loads(b)

    if _dumps({"a": [1, 2.5, None, True, "x"]}) != '{"a": [1, 2.5, null, true, "x"]}' or _loads(
        b' {"a": [1, 2.5, null]} '
    ) != {"a": [1, 2.5, None]}:
        raise ImportError("unexpected _json behaviour")
except Exception:
    import json

    def _default_json(o):
        try:
            return _default(o)
        except _SlowPath:
            return float(o)  # rare: Decimal on an interpreter without a usable _json

    def _dumps(o):
        return json.dumps(o, default=_default_json, ensure_ascii=_ENSURE_ASCII)

    _loads = json.loads


# ---------------------------------------------------------------- Runtime API client

class RuntimeAPIError(Exception):
    pass


class _Closed(Exception):
    pass


class RuntimeClient:
    """A minimal HTTP/1.1 client with one keep-alive connection to the Runtime API."""

    def __init__(self, api):
        hostport, sep, prefix = api.partition("/")
        self.base = ("/" + prefix.strip("/") if sep and prefix.strip("/") else "") + "/2018-06-01/runtime"
        self.host_header = hostport
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else "80"
        else:
            host, sep, port = hostport.rpartition(":")
            if not sep:
                host, port = hostport, "80"
        self.addr = (host, int(port))
        self.sock = None
        self.buf = b""

    def _connect(self):
        err = None
        host = self.addr[0]
        if host.isascii():
            host = host.encode("ascii")  # a str host makes getaddrinfo import the idna codec (and re)
        for family, socktype, proto, _, sockaddr in _socket.getaddrinfo(host, self.addr[1], 0, _socket.SOCK_STREAM):
            s = _socket.socket(family, socktype, proto)
            try:
                s.connect(sockaddr)
            except OSError as e:
                s.close()
                err = e
                continue
            if family in (_socket.AF_INET, _socket.AF_INET6):
                s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self.sock = s
            self.buf = b""
            return
        raise err or OSError("cannot resolve " + self.addr[0])

    def _close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise _Closed()
        self.buf += data

    def _read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_response(self):
        while True:
            status_line = self._read_line()
            parts = status_line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise RuntimeAPIError("bad status line %r" % status_line)
            status = int(parts[1])
            headers = {}
            while True:
                line = self._read_line()
                if not line:
                    break
                name, _, value = line.partition(b":")
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            if 100 <= status < 200:
                continue
            break
        keep_alive = parts[0] != b"HTTP/1.0" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self._read_line().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self._read_line():  # trailers
                        pass
                    break
                chunks.append(self._read_exact(size))
                self._read_exact(2)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        elif status in (204, 304):
            body = b""
        else:
            try:
                while True:
                    self._fill()
            except _Closed:
                pass
            body, self.buf = self.buf, b""
            keep_alive = False
        if not keep_alive:
            self._close()
        return status, headers, body

    def _encode(self, method, path, headers=None, body=b""):
        head = "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nimbus-python/%d.%d.%d\r\n" % (
            (method, self.base, path, self.host_header) + tuple(sys.version_info[:3])
        )
        if method != "GET":
            head += "Content-Length: %d\r\n" % len(body)
        if headers:
            for k, v in headers.items():
                head += "%s: %s\r\n" % (k, v)
        return (head + "\r\n").encode("latin-1") + body

    def request(self, method, path, headers=None, body=b""):
        data = self._encode(method, path, headers, body)
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            try:
                self.sock.sendall(data)
                return self._read_response()
            except (_Closed, ConnectionError) as e:
                self._close()
                # The server closed an idle keep-alive connection: retry once on a new one.
                if not reused or attempt:
                    raise RuntimeAPIError("%s %s: %s" % (method, path, e.__class__.__name__))

    def next(self):
        return self._next_result(*self.request("GET", "/invocation/next"))

    @staticmethod
    def _next_result(status, headers, body):
        if status != 200:
            raise RuntimeAPIError("GET next returned %d: %r" % (status, body))
        return headers, body

    def post(self, path, body, content_type="application/json", error_type=None):
        headers = {"Content-Type": content_type}
        if error_type is not None:
            headers["Lambda-Runtime-Function-Error-Type"] = _header_safe(error_type)
        self._posted(path, self.request("POST", path, headers, body))

    @staticmethod
    def _posted(path, response):
        status, _, resp = response
        if status >= 500:
            raise RuntimeAPIError("POST %s returned %d: %r" % (path, status, resp))
        if status != 202:
            sys.stderr.write("nimbus runtime: POST %s returned %d: %r\n" % (path, status, resp))

    def post_then_next(self, path, body, content_type="application/json", error_type=None):
        """Posts an answer with GET next behind it in the same write, and returns the next event.

        The platform reads the next request as soon as it has answered the post, so the next event
        does not wait for this process to wake up for the 202 and ask again.
        """
        headers = {"Content-Type": content_type}
        if error_type is not None:
            headers["Lambda-Runtime-Function-Error-Type"] = _header_safe(error_type)
        data = self._encode("POST", path, headers, body) + self._encode("GET", "/invocation/next")
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            try:
                self.sock.sendall(data)
                posted = self._read_response()
            except (_Closed, ConnectionError) as e:
                self._close()
                # The server closed an idle keep-alive connection: retry once on a new one.
                if not reused or attempt:
                    raise RuntimeAPIError("POST %s: %s" % (path, e.__class__.__name__))
                continue
            self._posted(path, posted)
            if self.sock is None:
                # The server closed the connection after the post: the GET behind it was not read.
                return self.next()
            try:
                return self._next_result(*self._read_response())
            except (_Closed, ConnectionError):
                self._close()
                return self.next()


def _header_safe(v):
    v = "".join(c for c in str(v) if c == "\t" or " " <= c <= "~")
    return v or "Unknown"


# ---------------------------------------------------------------- context

class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return f"{self.__class__.__name__}([custom={self.custom},env={self.env},client={self.client}])"


def _obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field, None))
    return obj


class LambdaContext(object):
    def __init__(self, invoke_id, client_context, cognito_identity, epoch_deadline_time_in_ms, invoked_function_arn=None):
        env = os.environ
        self.aws_request_id = invoke_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = _obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj_from_dict(Client, self.client_context.client)
        self.identity = _obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        _write_stdout(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity}"
            "])"
        )


def _parse_json_header(value, name):
    try:
        return _loads(value)
    except Exception as e:
        raise FaultException(LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse {} JSON: {}".format(name, str(e)))


# ---------------------------------------------------------------- logging

_JSON_LOGS = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"


def _write_stdout(msg):
    sys.stdout.write(msg)
    sys.stdout.flush()


class _Unbuffered(object):
    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        n = self.stream.write(msg)
        self.stream.flush()
        return n

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


def _install_logging(logging):
    """Install AWS's root-logger handler: '[LEVEL]\\t<time>Z\\t<request id>\\t<message>', one line a record."""
    logging.Formatter.converter = time.gmtime

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            try:
                msg = self.format(record)
                if msg.endswith("\n"):
                    msg = msg[:-1]
                _write_stdout(msg.replace("\n", "\r") + "\n")
            except Exception:
                self.handleError(record)

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id or ""
            return True

    handler = LambdaLoggerHandler()
    if _JSON_LOGS:
        handler.setFormatter(_json_formatter(logging))
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    level = {"TRACE": "DEBUG", "FATAL": "CRITICAL"}.get(level, level)
    root = logging.getLogger()
    if level in logging._nameToLevel:
        root.setLevel(level)
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)


def _json_formatter(logging):
    reserved = {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
        "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "aws_request_id", "_frame_type", "taskName",
    }

    class JsonFormatter(logging.Formatter):
        def formatTime(self, record, datefmt=None):
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + ".%03dZ" % int(record.msecs)

        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            exc = record.exc_info
            if exc:
                import traceback
            result = {
                "timestamp": self.formatTime(record),
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc[2]) if exc else None,
                "errorType": exc[0].__name__ if exc else None,
                "errorMessage": str(exc[1]) if exc else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
            }
            result.update((k, v) for k, v in record.__dict__.items() if k not in reserved and k not in result)
            result = {k: v for k, v in result.items() if v is not None}
            try:
                return _dumps(result) + "\n"
            except Exception:
                return _dumps({k: str(v) for k, v in result.items()}) + "\n"

    return JsonFormatter()


class _LoggingHook(object):
    """A meta path finder that installs the Lambda log handler right after `logging` is first imported,
    so that functions which never log do not pay for importing logging."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is not None:
                spec = find(name, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_install(module):
            exec_module(module)
            _install_logging(module)

        spec.loader.exec_module = exec_and_install
        return spec


def _setup_logging():
    if "logging" in sys.modules:
        _install_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingHook())


def _log_error(error_result):
    if _JSON_LOGS:
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "level": "ERROR",
        }
        record.update(error_result)
        _write_stdout(_dumps(record) + "\n")
        return
    description = "[ERROR]"
    etype = error_result.get("errorType")
    if etype:
        description += " " + etype
    emsg = error_result.get("errorMessage")
    if emsg:
        if etype:
            description += ":"
        description += " " + emsg
    lines = [description]
    stack = error_result.get("stackTrace")
    if stack is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                n = len(line) - len(line.lstrip(" "))
                lines.append("\u00a0" * n + line[n:])
    _write_stdout("\r".join(lines) + "\n")


# ---------------------------------------------------------------- errors

def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _fault_result(exc_info, invoke_id=None):
    import traceback

    etype, value, tb = exc_info
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    # Drop the runtime's own frames at the top, as AWS drops bootstrap.py's.
    while frames and os.path.abspath(frames[0][0]) == _THIS_FILE:
        frames.pop(0)
    return make_error(str(value), etype.__name__, traceback.format_list(frames), invoke_id)


# ---------------------------------------------------------------- handler

def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, str(e)))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                BUILT_IN_MODULE_CONFLICT, "Cannot use built-in module {} as a handler module".format(modname)
            )
        name = modname.replace("/", ".")
        __import__(name)
        m = sys.modules[name]
    except ImportError as e:
        raise FaultException(IMPORT_MODULE_ERROR, "Unable to import module '{}': {}".format(modname, str(e)))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(USER_CODE_SYNTAX_ERROR, "Syntax error in module '{}': {}".format(modname, str(e)), trace)
    try:
        return getattr(m, fname)
    except AttributeError:
        raise FaultException(HANDLER_NOT_FOUND, "Handler '{}' missing on module '{}'".format(fname, modname))


def _handle(client, handler, headers, body):
    global _request_id
    invoke_id = headers.get("lambda-runtime-aws-request-id")
    _request_id = invoke_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    error = None
    try:
        client_context = headers.get("lambda-runtime-client-context")
        if client_context:
            client_context = _parse_json_header(client_context, "Client Context")
        identity = headers.get("lambda-runtime-cognito-identity")
        if identity:
            identity = _parse_json_header(identity, "Cognito Identity")
        try:
            deadline = int(headers.get("lambda-runtime-deadline-ms") or 0)
        except ValueError:
            deadline = 0
        context = LambdaContext(
            invoke_id,
            client_context or None,
            identity or None,
            deadline,
            headers.get("lambda-runtime-invoked-function-arn"),
        )
        try:
            event = _loads(body)
        except Exception as e:
            raise FaultException(UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)))
        response = handler(event, context)
        if isinstance(response, bytes):
            result, content_type = response, "application/unknown"
        else:
            try:
                result, content_type = _dumps(response).encode("utf-8"), "application/json"
            except Exception as e:
                raise FaultException(MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)))
    except FaultException as e:
        error = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        error = _fault_result(sys.exc_info(), invoke_id)

    path = "/invocation/" + _quote(invoke_id or "")
    if error is not None:
        _log_error(error)
        return client.post_then_next(path + "/error", _dumps(error).encode("utf-8"), error_type=error["errorType"])
    return client.post_then_next(path + "/response", result, content_type)


def _quote(s):
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
    return "".join(c if c in safe else "".join("%%%02X" % b for b in c.encode("utf-8")) for c in s)


# ---------------------------------------------------------------- AWS_ENDPOINT_URL for older botocore

class _BotocoreEndpointFinder:
    """Teaches a botocore that predates configured endpoints (1.31) AWS_ENDPOINT_URL and
    AWS_ENDPOINT_URL_<SERVICE>, which the platform sets as it sets them for the SDKs that read them
    (Debian's boto3 is such an older one). It patches botocore.session when it is first imported, so
    functions that never import boto3 pay nothing; a botocore that reads the variables itself is left alone.
    """

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "botocore.session":
            return None
        sys.meta_path.remove(cls)
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = spec and spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch_botocore_session(module)

        loader.exec_module = exec_and_patch
        return spec


def _patch_botocore_session(session_module):
    try:
        import botocore.configprovider as configprovider

        if "ignore_configured_endpoint_urls" in configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES:
            return
        original = session_module.Session.create_client
    except Exception:
        return

    def create_client(self, service_name, *args, **kwargs):
        # endpoint_url is create_client's sixth parameter; boto3 passes it by name.
        if len(args) < 5 and kwargs.get("endpoint_url") is None:
            url = _configured_endpoint(self, service_name, kwargs.get("api_version") or (args[1] if len(args) > 1 else None))
            if url:
                kwargs["endpoint_url"] = url
        return original(self, service_name, *args, **kwargs)

    create_client.__doc__ = original.__doc__
    session_module.Session.create_client = create_client


def _configured_endpoint(session, service_name, api_version):
    env = os.environ
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    try:
        service_id = str(session.get_service_model(service_name, api_version).service_id)
        url = env.get("AWS_ENDPOINT_URL_" + service_id.replace(" ", "_").upper())
        if url:
            return url
    except Exception:
        pass
    return env.get("AWS_ENDPOINT_URL") or None


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    if os.environ.get("AWS_ENDPOINT_URL") or any(k.startswith("AWS_ENDPOINT_URL_") for k in os.environ):
        sys.meta_path.insert(0, _BotocoreEndpointFinder)
    # The user's code comes first on sys.path; this runtime's own directory is not on it at all.
    script_dir = os.path.dirname(_THIS_FILE)
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != script_dir]
    sys.path.insert(0, task_root)
    if sys.flags.no_site:
        # Started with -S, so that no host site-packages is on the path: give
        # the function the builtins the site module would have added.
        import builtins
        import _sitebuiltins
        for name, eof in (("exit", "Ctrl-D (i.e. EOF)"), ("quit", "Ctrl-D (i.e. EOF)")):
            if not hasattr(builtins, name):
                setattr(builtins, name, _sitebuiltins.Quitter(name, eof))
    # Every write reaches the platform at once (python3 -u makes the streams unbuffered already).
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not (getattr(stream, "write_through", False) and type(getattr(stream, "buffer", None)).__name__ == "FileIO"):
            setattr(sys, name, _Unbuffered(stream))

    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        sys.stderr.write("nimbus runtime: AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(1)
    client = RuntimeClient(api)
    _setup_logging()

    try:
        handler = _get_handler(os.environ.get("_HANDLER") or "")
    except Exception as e:
        if isinstance(e, FaultException):
            error = make_error(e.msg, e.exception_type, e.trace)
        else:
            error = _fault_result(sys.exc_info())
        import logging

        logging.warning(LAMBDA_UNHANDLED_EXCEPTION_WARNING)
        _log_error(error)
        client.post("/init/error", _dumps(error).encode("utf-8"), error_type=error["errorType"])
        sys.exit(1)

    headers, body = client.next()
    while True:
        headers, body = _handle(client, handler, headers, body)


def run():
    try:
        main()
    except RuntimeAPIError as e:
        sys.stderr.write("nimbus runtime: %s\n" % e)
        sys.exit(1)
