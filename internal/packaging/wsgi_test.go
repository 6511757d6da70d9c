package packaging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// wsgiApp is a WSGI application as serverless-wsgi serves it, written
// against the WSGI spec alone (Flask apps are WSGI callables like it), with
// a requirement from the local index.
const wsgiApp = `import json
import nimbus_demo

PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x01, 0xFE, 0xFF])


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.endswith("/png"):
        start_response("200 OK", [("Content-Type", "image/png")])
        return [PNG]
    if path.endswith("/cookies"):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "a=1; Path=/"),
                                  ("Set-Cookie", "b=2; Path=/"), ("X-Multi", "one"), ("X-Multi", "two")])
        return [b"ok"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode()
    out = {"method": environ["REQUEST_METHOD"], "path": path, "query": environ["QUERY_STRING"], "body": body,
           "cookie": environ.get("HTTP_COOKIE", ""), "type": environ.get("CONTENT_TYPE", ""),
           "shout": nimbus_demo.shout("hi"), "script": environ["SCRIPT_NAME"]}
    start_response("201 Created", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
`

func TestWSGIAppBehindTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	requirePip(t)
	index := pyIndex(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"serverless.yml": fmt.Sprintf(`service: wsgiapp
plugins:
  - serverless-wsgi
  - serverless-python-requirements
provider:
  name: aws
  runtime: python3.11
custom:
  wsgi:
    app: api/app.app
  pythonRequirements:
    pipCmdExtraArgs: ['--no-index', '--find-links', '%s']
functions:
  api:
    handler: wsgi_handler.handler
    events:
      - httpApi:
          method: '*'
          path: /v2/{proxy+}
      - http: ANY /v1/{proxy+}
`, index),
		"requirements.txt": "nimbus-demo\n",
		"api/app.py":       wsgiApp,
	})
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	p.Client.BuildCache = t.TempDir()
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	base := p.Gateway.URL()
	call := func(method, url, body string, headers ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	for _, api := range []struct{ name, prefix, path string }{
		{"HTTPAPI", "", "/v2/things"},
		{"REST", "/dev", "/v1/things"},
	} {
		t.Run(api.name, func(t *testing.T) {
			resp, body := call("POST", base+api.prefix+api.path+"?x=1&y=a%20b", "hello wsgi", "Content-Type", "text/plain", "Cookie", "c=3; d=4")
			var got map[string]string
			if resp.StatusCode != 201 || json.Unmarshal(body, &got) != nil {
				t.Fatalf("POST %s = %d %s", api.path, resp.StatusCode, body)
			}
			want := map[string]string{"method": "POST", "path": api.path, "body": "hello wsgi", "cookie": "c=3; d=4",
				"type": "text/plain", "shout": "HI!", "script": ""}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %s)", k, got[k], v, body)
				}
			}
			if !strings.Contains(got["query"], "x=1") || !strings.Contains(got["query"], "y=a") {
				t.Errorf("query = %q, want x=1 and y", got["query"])
			}

			resp, body = call("GET", base+api.prefix+strings.Replace(api.path, "things", "cookies", 1), "")
			var names []string
			for _, c := range resp.Cookies() {
				names = append(names, c.Name+"="+c.Value)
			}
			slices.Sort(names)
			if resp.StatusCode != 200 || string(body) != "ok" || !slices.Equal(names, []string{"a=1", "b=2"}) {
				t.Errorf("GET cookies = %d %q, cookies %v, want both cookies set", resp.StatusCode, body, names)
			}
			if multi := strings.Join(resp.Header.Values("X-Multi"), ", "); multi != "one, two" {
				t.Errorf("X-Multi = %q, want one, two", multi)
			}
		})
	}

	resp, body := call("GET", base+"/v2/png", "")
	want := []byte{0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x01, 0xFE, 0xFF}
	if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("GET /v2/png = %d %s %x, want the PNG bytes", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// flaskDists are Flask and what it needs, as pip would install them.
var flaskDists = [][2]string{{"Flask", "flask"}, {"Werkzeug", "werkzeug"}, {"Jinja2", "jinja2"},
	{"MarkupSafe", "markupsafe"}, {"itsdangerous", "itsdangerous"}, {"click", "click"}}

// flaskWheels turns the host's Flask installation (Debian's python3-flask;
// PyPI is out of reach here) into wheels in index, so the project installs
// Flask from requirements.txt as it would from PyPI.
func flaskWheels(t *testing.T, index string) {
	t.Helper()
	script := `import importlib, importlib.metadata as m, json, sys
out = []
for dist, mod in json.loads(sys.argv[1]):
    out.append([dist, m.version(dist), importlib.import_module(mod).__path__[0]])
print(json.dumps(out))`
	arg, _ := json.Marshal(flaskDists)
	raw, err := exec.Command("/usr/bin/python3", "-c", script, string(arg)).CombinedOutput()
	if err != nil {
		if os.Getenv("NIMBUS_REQUIRE_SDK") != "" {
			t.Fatalf("Flask is not installed for /usr/bin/python3 (CI installs python3-flask): %s", raw)
		}
		t.Skipf("Flask is not installed for /usr/bin/python3: %s", raw)
	}
	var found [][3]string
	if err := json.Unmarshal(raw, &found); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	for _, f := range found {
		files := map[string]string{}
		root := filepath.Dir(f[2])
		err := filepath.WalkDir(f[2], func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			if !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			files[filepath.ToSlash(rel)] = string(data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		writeWheel(t, index, f[0], f[1], files)
	}
}

const flaskApp = `import flask
from flask import Flask, jsonify, make_response, request

app = Flask(__name__)


@app.route("/<api>/hello/<name>", methods=["GET", "POST"])
def hello(api, name):
    resp = make_response(jsonify(
        name=name, method=request.method, args=request.args.to_dict(flat=False),
        body=request.get_data(as_text=True), cookie=request.cookies.get("c", ""),
        flask=flask.__file__, url=request.url))
    resp.set_cookie("a", "1")
    resp.set_cookie("b", "2")
    return resp, 201
`

func TestFlaskAppWithRequirementsBehindTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	requirePip(t)
	index := t.TempDir()
	flaskWheels(t, index)
	dir := t.TempDir()
	reqs := ""
	for _, d := range flaskDists {
		reqs += d[0] + "\n"
	}
	writeTree(t, dir, map[string]string{
		"serverless.yml": fmt.Sprintf(`service: flaskapp
plugins:
  - serverless-wsgi
  - serverless-python-requirements
provider:
  name: aws
  runtime: python3.11
custom:
  wsgi:
    app: app.app
  pythonRequirements:
    slim: true
    pipCmdExtraArgs: ['--no-index', '--find-links', '%s', '--no-deps', '--no-compile']
functions:
  app:
    handler: wsgi_handler.handler
    events:
      - httpApi: '*'
      - http: ANY /{proxy+}
`, index),
		"requirements.txt": reqs,
		"app.py":           flaskApp,
	})
	p := testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0" })
	p.Client.BuildCache = t.TempDir()
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	for _, api := range []struct{ name, url string }{
		{"HTTPAPI", p.Gateway.URL() + "/v2/hello/ada?x=1&x=2"},
		{"REST", p.Gateway.URL() + "/dev/v1/hello/ada?x=1&x=2"},
	} {
		t.Run(api.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", api.url, strings.NewReader("payload"))
			req.Header.Set("Cookie", "c=3")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct {
				Name, Method, Body, Cookie, Flask string
				Args                              map[string][]string
			}
			if resp.StatusCode != 201 || json.Unmarshal(body, &got) != nil {
				t.Fatalf("POST = %d %s", resp.StatusCode, body)
			}
			if got.Name != "ada" || got.Method != "POST" || got.Body != "payload" || got.Cookie != "3" || !slices.Equal(got.Args["x"], []string{"1", "2"}) {
				t.Errorf("Flask saw %s", body)
			}
			if strings.HasPrefix(got.Flask, "/usr/") {
				t.Errorf("flask was imported from %s, want the copy requirements.txt installed into the package", got.Flask)
			}
			var cookies []string
			for _, c := range resp.Cookies() {
				cookies = append(cookies, c.Name+"="+c.Value)
			}
			slices.Sort(cookies)
			if !slices.Equal(cookies, []string{"a=1", "b=2"}) {
				t.Errorf("cookies = %v, want a=1 and b=2", cookies)
			}
		})
	}
}
