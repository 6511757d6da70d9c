package manifest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// writeProject writes files (slash paths to contents) under a new folder
// named name.
func writeProject(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// samPlatform is one platform the SAM application tests deploy to.
type samPlatform struct{ *testkit.Platform }

func (p samPlatform) deploy(t *testing.T, dir string, opts manifest.Options) *manifest.Project {
	t.Helper()
	out, err := p.Client.Deploy(context.Background(), dir, opts, nil)
	if err != nil {
		t.Fatalf("deploy %s: %v", filepath.Base(dir), err)
	}
	return out.Project
}

// TestSAMApplications deploys SAM projects written as SAM users write them
// to one platform and calls them over HTTP.
func TestSAMApplications(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := samPlatform{testkit.Start(t, func(c *server.Config) { c.HTTPAddr = "127.0.0.1:0"; c.NoSandbox = true })}
	t.Run("InlineCode", p.testInlineCode)
	t.Run("RESTTokenAuthorizer", p.testRESTTokenAuthorizer)
	t.Run("HttpApiJWTAuthorizer", p.testHTTPJWTAuthorizer)
	t.Run("EsbuildTypeScript", p.testEsbuildTypeScript)
}

// A TypeScript API as `sam init` lays it out: the function's folder with
// its package.json and node_modules, Metadata BuildMethod esbuild.
var samTypeScriptProject = map[string]string{
	"template.yaml": `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 3
Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello-world/
      Handler: app.lambdaHandler
      Runtime: nodejs20.x
      Architectures:
        - x86_64
      Events:
        HelloWorld:
          Type: Api
          Properties:
            Path: /greet
            Method: get
    Metadata:
      BuildMethod: esbuild
      BuildProperties:
        Minify: true
        Target: es2020
        Sourcemap: true
        EntryPoints:
          - app.ts
        Banner:
          - js=// built by esbuild
`,
	"hello-world/package.json":  `{"name": "hello-world", "version": "1.0.0", "main": "app.js", "dependencies": {"shout-case": "1.0.0"}}`,
	"hello-world/tsconfig.json": `{"compilerOptions": {"target": "es2020", "strict": true}}`,
	"hello-world/app.ts": `import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { shout } from 'shout-case';

interface Greeting { message: string; path: string }

export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const body: Greeting = { message: shout('hello world'), path: event.path };
    return { statusCode: 200, body: JSON.stringify(body) };
};
`,
	"hello-world/node_modules/shout-case/package.json": `{"name": "shout-case", "version": "1.0.0", "main": "index.js"}`,
	"hello-world/node_modules/shout-case/index.js":     "exports.shout = (s) => s.toUpperCase() + '!';\n",
}

// The TypeScript function is bundled with its npm dependency; the bundle is
// the function's code and the handler finds it.
func (p samPlatform) testEsbuildTypeScript(t *testing.T) {
	dir := writeProject(t, "ts-app", samTypeScriptProject)
	proj := p.deploy(t, dir, manifest.Options{})
	if len(proj.Warnings) != 0 {
		t.Errorf("warnings = %v", proj.Warnings)
	}
	// (/greet: the apps share the platform's gateway, and sam-auth has /hello.)
	if code, body := call(t, "GET", p.Gateway.URL()+"/prod/greet", ""); code != 200 || body != `{"message":"HELLO WORLD!","path":"/greet"}` {
		t.Errorf("GET /prod/greet = %d %s", code, body)
	}
}

// callWith sends one request with headers and returns the status and body.
func callWith(t *testing.T, method, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// examples/sam-auth: a REST API whose DefaultAuthorizer is a Lambda TOKEN
// authorizer refuses and accepts as API Gateway does; a route with
// Auth.Authorizer NONE stays open.
func (p samPlatform) testRESTTokenAuthorizer(t *testing.T) {
	proj := p.deploy(t, testkit.Path(t, "examples/sam-auth"), manifest.Options{})
	if len(proj.Warnings) != 0 {
		t.Errorf("warnings = %v", proj.Warnings)
	}
	base := p.Gateway.URL() + "/prod"
	for _, tc := range []struct {
		path, token string
		code        int
		body        string
	}{
		{"/hello", "", 401, `{"message":"Unauthorized"}`},
		{"/hello", "Basic x", 401, `{"message":"Unauthorized"}`}, // fails ValidationExpression
		{"/hello", "Bearer nobody", 401, `{"message":"Unauthorized"}`},
		{"/hello", "Bearer deny", 403, `{"Message":"User is not authorized to access this resource with an explicit deny"}`},
		{"/hello", "Bearer allow-ann", 200, `{"path":"/hello","user":"ann","principal":"allow-ann"}`},
		{"/open", "", 200, `{"path":"/open","user":null,"principal":null}`},
	} {
		h := map[string]string{}
		if tc.token != "" {
			h["Authorization"] = tc.token
		}
		if code, body := callWith(t, "GET", base+tc.path, h); code != tc.code || body != tc.body {
			t.Errorf("GET %s with %q = %d %s, want %d %s", tc.path, tc.token, code, body, tc.code, tc.body)
		}
	}
}

// jwtIssuer is an OpenID provider: discovery and JWKS over HTTP.
type jwtIssuer struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func newJWTIssuer(t *testing.T) *jwtIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &jwtIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL, "jwks_uri": is.URL + "/jwks.json"})
	})
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

func (is *jwtIssuer) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(is.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const samJWTTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  IssuerUrl:
    Type: String
Resources:
  OrdersApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: OAuth
        Authorizers:
          OAuth:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !Ref IssuerUrl
              audience:
                - orders
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: |
        exports.handler = async (event) => ({ statusCode: 200, body: "sub " + (event.requestContext.authorizer ? event.requestContext.authorizer.jwt.claims.sub : "none") });
      Events:
        List:
          Type: HttpApi
          Properties:
            ApiId: !Ref OrdersApi
            Path: /orders
            Method: GET
        Admin:
          Type: HttpApi
          Properties:
            ApiId: !Ref OrdersApi
            Path: /admin
            Method: GET
            Auth:
              Authorizer: OAuth
              AuthorizationScopes: [admin]
        Health:
          Type: HttpApi
          Properties:
            ApiId: !Ref OrdersApi
            Path: /health
            Method: GET
            Auth:
              Authorizer: NONE
  KeysApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: KeyCheck
        Authorizers:
          KeyCheck:
            FunctionArn: !GetAtt KeyCheckFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity:
              Headers: [X-Api-Key]
  KeyCheckFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: |
        exports.handler = async (event) => ({ isAuthorized: event.headers["x-api-key"] === "open-sesame", context: { team: "blue" } });
  KeysFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"statusCode": 200, "body": "team " + event["requestContext"]["authorizer"]["lambda"]["team"]}
      Events:
        Keys:
          Type: HttpApi
          Properties:
            ApiId: !Ref KeysApi
            Path: /keys
            Method: GET
`

// Two HttpApis in one template, each with its own auth: a JWT authorizer
// (issuer, audience, scopes per route) checking tokens against the issuer's
// keys, and a Lambda authorizer with simple responses.
func (p samPlatform) testHTTPJWTAuthorizer(t *testing.T) {
	is := newJWTIssuer(t)
	dir := writeProject(t, "orders", map[string]string{"template.yaml": samJWTTemplate})
	proj := p.deploy(t, dir, manifest.Options{ParameterOverrides: map[string]string{"IssuerUrl": is.URL}})
	if len(proj.Warnings) != 0 {
		t.Errorf("warnings = %v", proj.Warnings)
	}
	exp := time.Now().Add(time.Hour).Unix()
	good := is.token(t, jwt.MapClaims{"iss": is.URL, "aud": "orders", "sub": "ann", "exp": exp})
	admin := is.token(t, jwt.MapClaims{"iss": is.URL, "aud": "orders", "sub": "root", "exp": exp, "scope": "admin read"})
	wrongAud := is.token(t, jwt.MapClaims{"iss": is.URL, "aud": "billing", "sub": "ann", "exp": exp})
	base := p.Gateway.URL()
	for _, tc := range []struct {
		path, token string
		code        int
		body        string
	}{
		{"/orders", "", 401, `{"message":"Unauthorized"}`},
		{"/orders", "Bearer " + wrongAud, 401, `{"message":"Unauthorized"}`},
		{"/orders", "Bearer " + good, 200, "sub ann"},
		{"/admin", "Bearer " + good, 403, `{"message":"Forbidden"}`},
		{"/admin", "Bearer " + admin, 200, "sub root"},
	} {
		h := map[string]string{}
		if tc.token != "" {
			h["Authorization"] = tc.token
		}
		if code, body := callWith(t, "GET", base+tc.path, h); code != tc.code || body != tc.body {
			t.Errorf("GET %s = %d %s, want %d %s", tc.path, code, body, tc.code, tc.body)
		}
	}
	if code, body := callWith(t, "GET", base+"/health", nil); code != 200 || body != "sub none" {
		t.Errorf("GET /health = %d %s, want the open route served without a token", code, body)
	}
	// The second API of the template has its own Lambda authorizer (payload
	// 2.0, simple responses); the first API's JWT does not open it.
	for _, tc := range []struct {
		header map[string]string
		code   int
		body   string
	}{
		{nil, 401, `{"message":"Unauthorized"}`},
		{map[string]string{"Authorization": "Bearer " + good}, 401, `{"message":"Unauthorized"}`},
		{map[string]string{"X-Api-Key": "guess"}, 403, `{"message":"Forbidden"}`},
		{map[string]string{"X-Api-Key": "open-sesame"}, 200, "team blue"},
	} {
		if code, body := callWith(t, "GET", base+"/keys", tc.header); code != tc.code || body != tc.body {
			t.Errorf("GET /keys with %v = %d %s, want %d %s", tc.header, code, body, tc.code, tc.body)
		}
	}
}

const samInlineTemplate = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  NodeFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: |
        exports.handler = async (event) => ({ statusCode: 200, body: "node " + event.pathParameters.name });
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/node/{name}", Method: GET}
  PyFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"statusCode": 200, "body": "python " + event["pathParameters"]["name"]}
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/py/{name}", Method: GET}
`

// InlineCode becomes index.js or index.py, as CloudFormation packages it;
// nothing else of the project is in the function's package.
func (p samPlatform) testInlineCode(t *testing.T) {
	dir := writeProject(t, "inline-app", map[string]string{"template.yaml": samInlineTemplate, "notes.txt": "not code"})
	proj := p.deploy(t, dir, manifest.Options{})
	if len(proj.Warnings) != 0 {
		t.Errorf("warnings = %v", proj.Warnings)
	}
	for path, want := range map[string]string{"/node/ann": "node ann", "/py/bob": "python bob"} {
		if code, body := call(t, "GET", p.Gateway.URL()+path, ""); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
		}
	}
}
