// nimbus Java runtime client: speaks the Lambda Runtime API and calls the
// handler named by _HANDLER (package.Class::method or package.Class) from the
// function's classes and lib/*.jar, as Lambda's Java runtime does. The
// aws-lambda-java-core interfaces (RequestHandler, RequestStreamHandler,
// Context, LambdaLogger) come from the function's own jars and are reached by
// reflection; the JSON mapper below covers Map, List, String, numbers,
// booleans and simple POJOs (public fields or setters/getters).
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Proxy;
import java.lang.reflect.Type;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class NimbusRuntime {
    private static final String CORE = "com.amazonaws.services.lambda.runtime.";

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final String base;

    private NimbusRuntime(String api) {
        this.base = "http://" + api + "/2018-06-01/runtime/";
    }

    public static void main(String[] args) throws Exception {
        NimbusRuntime rt = new NimbusRuntime(System.getenv("AWS_LAMBDA_RUNTIME_API"));
        String root = env("LAMBDA_TASK_ROOT", System.getProperty("user.dir"));
        Handler handler;
        try {
            handler = Handler.load(loader(root), System.getenv("_HANDLER"));
        } catch (Throwable e) {
            Throwable cause = unwrap(e);
            String body = errorJSON(cause);
            System.out.println("Init error: " + body);
            rt.post("init/error", body, cause.getClass().getName());
            System.exit(1);
            return;
        }
        while (true) {
            HttpResponse<byte[]> next = rt.http.send(HttpRequest.newBuilder(URI.create(rt.base + "invocation/next")).GET().build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            if (next.statusCode() != 200) {
                throw new IllegalStateException("next: status " + next.statusCode());
            }
            String id = next.headers().firstValue("Lambda-Runtime-Aws-Request-Id").orElse("");
            next.headers().firstValue("Lambda-Runtime-Trace-Id").ifPresentOrElse(
                    v -> System.setProperty("com.amazonaws.xray.traceHeader", v),
                    () -> System.clearProperty("com.amazonaws.xray.traceHeader"));
            long deadline = Long.parseLong(next.headers().firstValue("Lambda-Runtime-Deadline-Ms").orElse("0"));
            String arn = next.headers().firstValue("Lambda-Runtime-Invoked-Function-Arn").orElse("");
            String identity = next.headers().firstValue("Lambda-Runtime-Cognito-Identity").orElse(null);
            String clientContext = next.headers().firstValue("Lambda-Runtime-Client-Context").orElse(null);
            try {
                byte[] out = handler.invoke(next.body(), id, arn, deadline, identity, clientContext);
                rt.post("invocation/" + id + "/response", new String(out, StandardCharsets.UTF_8), null);
            } catch (Throwable e) {
                Throwable cause = unwrap(e);
                String body = errorJSON(cause);
                System.out.println(body);
                rt.post("invocation/" + id + "/error", body, cause.getClass().getName());
                if (cause instanceof Error && !(cause instanceof AssertionError)) {
                    System.exit(1); // OutOfMemoryError and the like: not reused
                }
            }
        }
    }

    private void post(String path, String body, String errorType) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        if (errorType != null) {
            b.header("Lambda-Runtime-Function-Error-Type", errorType);
        }
        http.send(b.build(), HttpResponse.BodyHandlers.discarding());
    }

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? def : v;
    }

    // The function's classes: the package root and every jar in lib/.
    private static ClassLoader loader(String root) throws Exception {
        List<URL> urls = new ArrayList<>();
        urls.add(new File(root).toURI().toURL());
        File[] jars = new File(root, "lib").listFiles((d, n) -> n.endsWith(".jar"));
        if (jars != null) {
            java.util.Arrays.sort(jars);
            for (File j : jars) {
                urls.add(j.toURI().toURL());
            }
        }
        File[] top = new File(root).listFiles((d, n) -> n.endsWith(".jar"));
        if (top != null) {
            for (File j : top) {
                urls.add(j.toURI().toURL());
            }
        }
        ClassLoader cl = new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getSystemClassLoader());
        Thread.currentThread().setContextClassLoader(cl);
        return cl;
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof InvocationTargetException || e instanceof ExceptionInInitializerError) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    static String errorJSON(Throwable e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("errorMessage", e.getMessage());
        m.put("errorType", e.getClass().getName());
        List<Object> trace = new ArrayList<>();
        for (StackTraceElement el : e.getStackTrace()) {
            if (el.getClassName().equals(NimbusRuntime.class.getName()) || el.getClassName().startsWith("NimbusRuntime$")) {
                break; // the runtime's own frames say nothing about the function
            }
            if (el.getClassName().startsWith("jdk.internal.reflect.") || el.getClassName().startsWith("java.lang.reflect.")) {
                continue;
            }
            trace.add(el.toString());
        }
        m.put("stackTrace", trace);
        if (e.getCause() != null && e.getCause() != e) {
            m.put("cause", Json.parse(errorJSON(e.getCause())));
        }
        return Json.write(m);
    }

    // Handler is the resolved user method and how to call it.
    static final class Handler {
        final Object target;
        final Method method;
        final boolean stream;
        final Type input; // null when the method takes no input
        final Class<?> contextType;

        Handler(Object target, Method method, boolean stream, Type input, Class<?> contextType) {
            this.target = target;
            this.method = method;
            this.stream = stream;
            this.input = input;
            this.contextType = contextType;
        }

        static Handler load(ClassLoader cl, String spec) throws Exception {
            if (spec == null || spec.isEmpty()) {
                throw new IllegalArgumentException("_HANDLER is empty");
            }
            String className = spec;
            String methodName = null;
            int i = spec.indexOf("::");
            if (i >= 0) {
                className = spec.substring(0, i);
                methodName = spec.substring(i + 2);
            }
            Class<?> cls;
            try {
                cls = Class.forName(className, true, cl);
            } catch (ClassNotFoundException e) {
                throw new ClassNotFoundException("Class not found: " + className, e);
            }
            Class<?> contextType = optional(cl, CORE + "Context");
            Method method = null;
            if (methodName == null) {
                Class<?> streamIface = optional(cl, CORE + "RequestStreamHandler");
                Class<?> requestIface = optional(cl, CORE + "RequestHandler");
                if (streamIface != null && streamIface.isAssignableFrom(cls)) {
                    methodName = "handleRequest";
                } else if (requestIface != null && requestIface.isAssignableFrom(cls)) {
                    methodName = "handleRequest";
                } else {
                    throw new NoSuchMethodException("Class " + className + " does not implement RequestHandler or RequestStreamHandler; name a method with " + className + "::method");
                }
            }
            for (Method m : cls.getMethods()) {
                if (!m.getName().equals(methodName) || m.isBridge() || m.isSynthetic()) {
                    continue;
                }
                if (method == null || m.getParameterCount() > method.getParameterCount()) {
                    method = m;
                }
            }
            if (method == null) {
                throw new NoSuchMethodException("No public method named " + methodName + " in class " + className);
            }
            Object target = null;
            if (!Modifier.isStatic(method.getModifiers())) {
                Constructor<?> c = cls.getDeclaredConstructor();
                c.setAccessible(true);
                target = c.newInstance();
            }
            Class<?>[] p = method.getParameterTypes();
            boolean stream = p.length >= 2 && InputStream.class.isAssignableFrom(p[0]) && OutputStream.class.isAssignableFrom(p[1]);
            Type input = null;
            if (!stream && p.length >= 1 && (contextType == null || !contextType.isAssignableFrom(p[0]))) {
                input = inputType(cls, method);
            }
            return new Handler(target, method, stream, input, contextType);
        }

        // The declared input type, resolved through RequestHandler<I, O> when
        // the method's own parameter is the erased Object.
        static Type inputType(Class<?> cls, Method method) {
            Type t = method.getGenericParameterTypes()[0];
            if (t == Object.class) {
                for (Class<?> c = cls; c != null; c = c.getSuperclass()) {
                    for (Type g : c.getGenericInterfaces()) {
                        if (g instanceof ParameterizedType && ((ParameterizedType) g).getRawType().getTypeName().equals(CORE + "RequestHandler")) {
                            return ((ParameterizedType) g).getActualTypeArguments()[0];
                        }
                    }
                }
            }
            return t;
        }

        static Class<?> optional(ClassLoader cl, String name) {
            try {
                return Class.forName(name, false, cl);
            } catch (ClassNotFoundException e) {
                return null;
            }
        }

        byte[] invoke(byte[] payload, String id, String arn, long deadline, String identity, String clientContext) throws Exception {
            Object ctx = contextType == null ? null : context(contextType, id, arn, deadline, identity, clientContext);
            Class<?>[] p = method.getParameterTypes();
            Object[] args = new Object[p.length];
            if (stream) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                args[0] = new ByteArrayInputStream(payload);
                args[1] = out;
                if (p.length > 2) {
                    args[2] = ctx;
                }
                method.invoke(target, args);
                return out.toByteArray();
            }
            for (int i = 0; i < p.length; i++) {
                if (contextType != null && contextType.isAssignableFrom(p[i])) {
                    args[i] = ctx;
                } else if (i == 0 && input != null) {
                    args[i] = Json.convert(Json.parse(new String(payload, StandardCharsets.UTF_8)), input);
                }
            }
            Object result = method.invoke(target, args);
            if (method.getReturnType() == void.class) {
                return "null".getBytes(StandardCharsets.UTF_8);
            }
            return Json.write(result).getBytes(StandardCharsets.UTF_8);
        }

        // A Context of the function's own interface, answered here. identity
        // and clientContext are the JSON of their Runtime API headers (null
        // when absent; getIdentity and getClientContext are then null too, as
        // in Lambda's Java runtime).
        Object context(Class<?> iface, String id, String arn, long deadline, String identity, String clientContext) {
            ClassLoader cl = iface.getClassLoader();
            Object cognito = cognitoIdentity(cl, identity);
            Object client = clientContext(cl, clientContext);
            Class<?> loggerType = optional(cl, CORE + "LambdaLogger");
            Object logger = loggerType == null ? null : Proxy.newProxyInstance(cl, new Class<?>[] {loggerType}, (proxy, m, a) -> {
                if (m.getName().equals("log") && a != null && a.length > 0) {
                    Object v = a[0];
                    System.out.print(v instanceof byte[] ? new String((byte[]) v, StandardCharsets.UTF_8) : String.valueOf(v));
                    System.out.flush();
                }
                return null;
            });
            return Proxy.newProxyInstance(cl, new Class<?>[] {iface}, (proxy, m, a) -> {
                switch (m.getName()) {
                    case "getAwsRequestId": return id;
                    case "getInvokedFunctionArn": return arn;
                    case "getLogGroupName": return System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
                    case "getLogStreamName": return System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");
                    case "getFunctionName": return System.getenv("AWS_LAMBDA_FUNCTION_NAME");
                    case "getFunctionVersion": return System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
                    case "getMemoryLimitInMB": return Integer.parseInt(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"));
                    case "getRemainingTimeInMillis": return (int) Math.max(0, deadline - System.currentTimeMillis());
                    case "getLogger": return logger;
                    case "getIdentity": return cognito;
                    case "getClientContext": return client;
                    case "toString": return "Context(" + id + ")";
                    case "hashCode": return System.identityHashCode(proxy);
                    case "equals": return proxy == a[0];
                    default: return null; // tenant: not given
                }
            });
        }

        // The CognitoIdentity of the Lambda-Runtime-Cognito-Identity header.
        static Object cognitoIdentity(ClassLoader cl, String header) {
            Map<String, Object> m = jsonObject(header);
            if (m == null) {
                return null;
            }
            Map<String, Object> getters = new LinkedHashMap<>();
            getters.put("getIdentityId", text(m.get("cognitoIdentityId")));
            getters.put("getIdentityPoolId", text(m.get("cognitoIdentityPoolId")));
            return view(cl, "CognitoIdentity", getters);
        }

        // The ClientContext of the Lambda-Runtime-Client-Context header: the
        // mobile SDK's client, custom and env objects.
        static Object clientContext(ClassLoader cl, String header) {
            Map<String, Object> m = jsonObject(header);
            if (m == null) {
                return null;
            }
            Object client = null;
            if (m.get("client") instanceof Map) {
                @SuppressWarnings("unchecked")
                Map<String, Object> c = (Map<String, Object>) m.get("client");
                Map<String, Object> getters = new LinkedHashMap<>();
                getters.put("getInstallationId", text(c.get("installation_id")));
                getters.put("getAppTitle", text(c.get("app_title")));
                getters.put("getAppVersionName", text(c.get("app_version_name")));
                getters.put("getAppVersionCode", text(c.get("app_version_code")));
                getters.put("getAppPackageName", text(c.get("app_package_name")));
                client = view(cl, "Client", getters);
            }
            Map<String, Object> getters = new LinkedHashMap<>();
            getters.put("getClient", client);
            getters.put("getCustom", texts(m.get("custom")));
            getters.put("getEnvironment", texts(m.get("env")));
            return view(cl, "ClientContext", getters);
        }

        // A proxy of the function's own interface CORE+name whose methods
        // answer from getters; null when its jars lack the interface.
        static Object view(ClassLoader cl, String name, Map<String, Object> getters) {
            Class<?> iface = optional(cl, CORE + name);
            if (iface == null) {
                return null;
            }
            return Proxy.newProxyInstance(cl, new Class<?>[] {iface}, (proxy, m, a) -> {
                switch (m.getName()) {
                    case "toString": return name + getters;
                    case "hashCode": return System.identityHashCode(proxy);
                    case "equals": return proxy == a[0];
                    default: return getters.get(m.getName());
                }
            });
        }

        @SuppressWarnings("unchecked")
        static Map<String, Object> jsonObject(String header) {
            if (header == null || header.isEmpty()) {
                return null;
            }
            Object v = Json.parse(header);
            return v instanceof Map ? (Map<String, Object>) v : null;
        }

        // A JSON value as the String the interfaces declare.
        static String text(Object v) {
            return v == null || v instanceof String ? (String) v : Json.write(v);
        }

        // A JSON object as the Map<String, String> the interfaces declare.
        static Map<String, String> texts(Object v) {
            if (!(v instanceof Map)) {
                return null;
            }
            Map<String, String> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                out.put(String.valueOf(e.getKey()), text(e.getValue()));
            }
            return out;
        }
    }

    // Json: a small parser, writer and converter to declared types.
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String text) {
            Json j = new Json(text);
            j.ws();
            Object v = j.value();
            j.ws();
            if (j.i != j.s.length()) {
                throw new IllegalArgumentException("trailing characters in JSON at " + j.i);
            }
            return v;
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object value() {
            if (i >= s.length()) {
                throw new IllegalArgumentException("unexpected end of JSON");
            }
            char c = s.charAt(i);
            switch (c) {
                case '{': {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    ws();
                    if (s.charAt(i) == '}') {
                        i++;
                        return m;
                    }
                    while (true) {
                        ws();
                        String k = string();
                        ws();
                        expect(':');
                        ws();
                        m.put(k, value());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                            continue;
                        }
                        expect('}');
                        return m;
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    ws();
                    if (s.charAt(i) == ']') {
                        i++;
                        return l;
                    }
                    while (true) {
                        ws();
                        l.add(value());
                        ws();
                        if (s.charAt(i) == ',') {
                            i++;
                            continue;
                        }
                        expect(']');
                        return l;
                    }
                }
                case '"':
                    return string();
                case 't':
                    word("true");
                    return Boolean.TRUE;
                case 'f':
                    word("false");
                    return Boolean.FALSE;
                case 'n':
                    word("null");
                    return null;
                default:
                    return number();
            }
        }

        private void expect(char c) {
            if (i >= s.length() || s.charAt(i) != c) {
                throw new IllegalArgumentException("expected '" + c + "' in JSON at " + i);
            }
            i++;
        }

        private void word(String w) {
            if (!s.startsWith(w, i)) {
                throw new IllegalArgumentException("unexpected character in JSON at " + i);
            }
            i += w.length();
        }

        private Object number() {
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            String n = s.substring(start, i);
            if (n.isEmpty()) {
                throw new IllegalArgumentException("unexpected character in JSON at " + start);
            }
            if (n.contains(".") || n.contains("e") || n.contains("E")) {
                return Double.valueOf(n);
            }
            BigInteger b = new BigInteger(n);
            return b.bitLength() < 32 ? (Object) b.intValue() : b.bitLength() < 64 ? (Object) b.longValue() : b;
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: b.append(e);
                }
            }
        }

        static String write(Object v) {
            StringBuilder b = new StringBuilder();
            write(b, v);
            return b.toString();
        }

        private static void write(StringBuilder b, Object v) {
            if (v == null) {
                b.append("null");
            } else if (v instanceof CharSequence || v instanceof Character || v instanceof Enum) {
                quote(b, v.toString());
            } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Short
                    || v instanceof Byte || v instanceof BigInteger || v instanceof BigDecimal) {
                b.append(v);
            } else if (v instanceof Number) {
                double d = ((Number) v).doubleValue();
                b.append(d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) + ".0" : Double.toString(d));
            } else if (v instanceof Map) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    quote(b, String.valueOf(e.getKey()));
                    b.append(':');
                    write(b, e.getValue());
                }
                b.append('}');
            } else if (v instanceof Collection || v.getClass().isArray() && !(v instanceof byte[])) {
                Collection<?> items = v instanceof Collection ? (Collection<?>) v : arrayList(v);
                b.append('[');
                boolean first = true;
                for (Object o : items) {
                    if (!first) {
                        b.append(',');
                    }
                    first = false;
                    write(b, o);
                }
                b.append(']');
            } else if (v instanceof byte[]) {
                quote(b, java.util.Base64.getEncoder().encodeToString((byte[]) v));
            } else {
                write(b, pojoToMap(v));
            }
        }

        private static List<Object> arrayList(Object array) {
            int n = java.lang.reflect.Array.getLength(array);
            List<Object> l = new ArrayList<>(n);
            for (int k = 0; k < n; k++) {
                l.add(java.lang.reflect.Array.get(array, k));
            }
            return l;
        }

        private static Map<String, Object> pojoToMap(Object v) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (Method g : v.getClass().getMethods()) {
                String n = g.getName();
                if (g.getParameterCount() != 0 || Modifier.isStatic(g.getModifiers()) || g.getDeclaringClass() == Object.class) {
                    continue;
                }
                String prop = null;
                if (n.startsWith("get") && n.length() > 3) {
                    prop = n.substring(3);
                } else if (n.startsWith("is") && n.length() > 2 && (g.getReturnType() == boolean.class || g.getReturnType() == Boolean.class)) {
                    prop = n.substring(2);
                }
                if (prop != null) {
                    try {
                        m.put(Character.toLowerCase(prop.charAt(0)) + prop.substring(1), g.invoke(v));
                    } catch (ReflectiveOperationException e) {
                        throw new IllegalStateException("serialising " + v.getClass().getName() + "." + n, e);
                    }
                }
            }
            for (Field f : v.getClass().getFields()) {
                if (!Modifier.isStatic(f.getModifiers()) && !m.containsKey(f.getName())) {
                    try {
                        m.put(f.getName(), f.get(v));
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
            return m;
        }

        private static void quote(StringBuilder b, String s) {
            b.append('"');
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                switch (c) {
                    case '"': b.append("\\\""); break;
                    case '\\': b.append("\\\\"); break;
                    case '\n': b.append("\\n"); break;
                    case '\r': b.append("\\r"); break;
                    case '\t': b.append("\\t"); break;
                    default:
                        if (c < 0x20) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                }
            }
            b.append('"');
        }

        // convert turns parsed JSON into the declared type.
        @SuppressWarnings({"unchecked", "rawtypes"})
        static Object convert(Object v, Type t) throws Exception {
            Class<?> raw = t instanceof Class ? (Class<?>) t
                    : t instanceof ParameterizedType ? (Class<?>) ((ParameterizedType) t).getRawType() : Object.class;
            if (v == null) {
                return raw.isPrimitive() ? convert(0, raw) : null;
            }
            if (raw == Object.class || !(t instanceof ParameterizedType) && raw.isInstance(v)) {
                return v;
            }
            if (raw == String.class) {
                return v instanceof String ? v : write(v);
            }
            if (v instanceof Number) {
                Number n = (Number) v;
                if (raw == int.class || raw == Integer.class) return n.intValue();
                if (raw == long.class || raw == Long.class) return n.longValue();
                if (raw == double.class || raw == Double.class) return n.doubleValue();
                if (raw == float.class || raw == Float.class) return n.floatValue();
                if (raw == short.class || raw == Short.class) return n.shortValue();
                if (raw == BigDecimal.class) return new BigDecimal(n.toString());
                if (raw == Number.class) return n;
            }
            if ((raw == boolean.class || raw == Boolean.class) && v instanceof Boolean) {
                return v;
            }
            if (Map.class.isAssignableFrom(raw) && v instanceof Map) {
                Type vt = t instanceof ParameterizedType ? ((ParameterizedType) t).getActualTypeArguments()[1] : Object.class;
                Map out = new LinkedHashMap();
                for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                    out.put(e.getKey(), convert(e.getValue(), vt));
                }
                return out;
            }
            if (Collection.class.isAssignableFrom(raw) && v instanceof List) {
                Type et = t instanceof ParameterizedType ? ((ParameterizedType) t).getActualTypeArguments()[0] : Object.class;
                List out = new ArrayList();
                for (Object o : (List<Object>) v) {
                    out.add(convert(o, et));
                }
                return out;
            }
            if (v instanceof Map) {
                Constructor<?> c = raw.getDeclaredConstructor();
                c.setAccessible(true);
                Object o = c.newInstance();
                for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                    String k = e.getKey();
                    String setter = "set" + Character.toUpperCase(k.charAt(0)) + k.substring(1);
                    Method set = null;
                    for (Method m : raw.getMethods()) {
                        if (m.getName().equals(setter) && m.getParameterCount() == 1) {
                            set = m;
                        }
                    }
                    if (set != null) {
                        set.invoke(o, convert(e.getValue(), set.getGenericParameterTypes()[0]));
                        continue;
                    }
                    try {
                        Field f = raw.getField(k);
                        f.set(o, convert(e.getValue(), f.getGenericType()));
                    } catch (NoSuchFieldException ignored) {
                        // unknown properties are skipped, as Lambda's serializer does
                    }
                }
                return o;
            }
            throw new IllegalArgumentException("cannot convert " + write(v) + " to " + t.getTypeName());
        }
    }
}
