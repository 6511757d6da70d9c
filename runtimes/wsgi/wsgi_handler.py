"""WSGI adapter for functions whose handler is wsgi_handler.handler.

nimbus places this file and .serverless-wsgi (JSON: {"app": "module.attr",
"text_mime_types": [...]}) at the root of the package, as the serverless-wsgi
plugin does. handler() turns an API Gateway REST (v1) or HTTP API (v2) proxy
event into a WSGI environ, calls the application, and returns the proxy
response: binary bodies base64-encoded, repeated headers kept, cookies in
v2's cookies list. Standard library only.
"""

import base64
import importlib
import io
import json
import os
import sys
from urllib.parse import unquote, urlencode

TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/vnd.api+json",
              "image/svg+xml")


def _load_config():
    root = os.environ.get("LAMBDA_TASK_ROOT") or os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(root, ".serverless-wsgi"), encoding="utf-8") as f:
        return root, json.load(f)


def _load_app(root, spec):
    module_path, _, attr = spec.rpartition(".")
    if not module_path or not attr:
        raise ValueError("custom.wsgi.app must look like module.app, got %r" % spec)
    folder, _, module = module_path.rpartition("/")
    base = os.path.join(root, folder) if folder else root
    if base not in sys.path:
        sys.path.insert(0, base)
    obj = importlib.import_module(module.replace("/", "."))
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


_ROOT, _CONFIG = _load_config()
_TEXT_EXTRA = tuple(_CONFIG.get("text_mime_types") or ())
application = _load_app(_ROOT, _CONFIG["app"])


def _is_text(content_type, content_encoding):
    if content_encoding and content_encoding.lower() not in ("identity",):
        return False
    ct = (content_type or "").split(";")[0].strip().lower()
    if not ct:
        return True
    return (ct.startswith("text/") or ct in TEXT_TYPES or ct in _TEXT_EXTRA or ct.endswith("+json")
            or ct.endswith("+xml"))


def _body_bytes(event):
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8") if isinstance(body, str) else body


def _v1_query(event):
    mv = event.get("multiValueQueryStringParameters")
    if mv:
        return urlencode([(k, v) for k, vs in mv.items() for v in (vs or [])])
    single = event.get("queryStringParameters") or {}
    return urlencode(list(single.items()))


def _environ(event, context):
    v2 = event.get("version") == "2.0"
    rc = event.get("requestContext") or {}
    body = _body_bytes(event)
    if v2:
        method = (rc.get("http") or {}).get("method", "GET")
        path = event.get("rawPath") or "/"
        query = event.get("rawQueryString") or ""
        headers = [(k, v) for k, v in (event.get("headers") or {}).items()]
        if event.get("cookies"):
            headers.append(("cookie", "; ".join(event["cookies"])))
        source_ip = (rc.get("http") or {}).get("sourceIp", "")
    else:
        method = event.get("httpMethod", "GET")
        path = event.get("path") or "/"
        query = _v1_query(event)
        mv = event.get("multiValueHeaders")
        if mv:
            headers = [(k, ", ".join(vs or [])) for k, vs in mv.items()]
        else:
            headers = list((event.get("headers") or {}).items())
        source_ip = (rc.get("identity") or {}).get("sourceIp", "")
    lower = {k.lower(): v for k, v in headers}
    host = lower.get("host", "localhost")
    script_name = os.environ.get("API_GATEWAY_BASE_PATH", "")
    if script_name:
        script_name = "/" + script_name.strip("/")
    elif not v2 and "amazonaws.com" in host and rc.get("stage"):
        # The default execute-api URL carries the stage first.
        script_name = "/" + rc["stage"]
    if script_name and path.startswith(script_name):
        path = path[len(script_name):] or "/"
    port = lower.get("x-forwarded-port", "")
    scheme = lower.get("x-forwarded-proto", "http" if not port or port == "80" else "https")
    server_name, _, host_port = host.partition(":")
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": unquote(path, encoding="iso-8859-1"),
        "QUERY_STRING": query,
        "REMOTE_ADDR": source_ip,
        "REMOTE_USER": ((rc.get("authorizer") or {}).get("claims") or {}).get("cognito:username", ""),
        "SERVER_NAME": server_name or "localhost",
        "SERVER_PORT": port or host_port or ("443" if scheme == "https" else "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "serverless.event": event,
        "serverless.context": context,
        "serverless.authorizer": rc.get("authorizer"),
        "API_GATEWAY_AUTHORIZER": rc.get("authorizer"),
        "event": event,
        "context": context,
    }
    for k, v in headers:
        key = k.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = v
        elif key == "CONTENT_LENGTH":
            continue
        else:
            name = "HTTP_" + key
            environ[name] = environ[name] + "," + v if name in environ else v
    environ.setdefault("CONTENT_TYPE", "")
    return environ, v2


def handler(event, context):
    if "_serverless-wsgi" in event or ("httpMethod" not in event and "requestContext" not in event):
        raise ValueError("wsgi_handler.handler takes API Gateway proxy events")
    environ, v2 = _environ(event, context)
    state = {}

    def start_response(status, response_headers, exc_info=None):
        if exc_info and state.get("sent"):
            raise exc_info[1].with_traceback(exc_info[2])
        state["status"] = int(status.split(" ", 1)[0])
        state["headers"] = list(response_headers)
        return lambda data: state.setdefault("chunks", []).append(data)

    result = application(environ, start_response)
    try:
        chunks = state.get("chunks", [])
        for data in result:
            if data:
                state["sent"] = True
                chunks.append(data)
    finally:
        if hasattr(result, "close"):
            result.close()
    body = b"".join(chunks)
    headers = state.get("headers", [])
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    cenc = next((v for k, v in headers if k.lower() == "content-encoding"), "")
    response = {"statusCode": state.get("status", 500)}
    if _is_text(ctype, cenc):
        response["body"] = body.decode("utf-8", errors="replace")
        response["isBase64Encoded"] = False
    else:
        response["body"] = base64.b64encode(body).decode("ascii")
        response["isBase64Encoded"] = True
    if v2:
        single, cookies = {}, []
        for k, v in headers:
            if k.lower() == "set-cookie":
                cookies.append(v)
            elif k in single:
                single[k] = single[k] + ", " + v
            else:
                single[k] = v
        response["headers"] = single
        if cookies:
            response["cookies"] = cookies
    else:
        multi = {}
        for k, v in headers:
            multi.setdefault(k, []).append(v)
        response["multiValueHeaders"] = multi
    return response
