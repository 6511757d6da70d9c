package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/console"
	"github.com/nimbus-platform/nimbus/internal/deployapi"
	"github.com/nimbus-platform/nimbus/internal/runtime"
)

// CredentialsFile is the administrator key's file in the data directory, in
// the AWS shared credentials format.
const CredentialsFile = "credentials"

// maxSignedBody is the largest body hashed in memory to check a signature:
// above Lambda's 6 MB payload limit, so the edges still answer their own
// size errors. Larger bodies (code uploads) declare X-Amz-Content-Sha256.
const maxSignedBody = 8 << 20

// checkNoAuth refuses --no-auth on an address other machines can reach.
func checkNoAuth(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--no-auth is refused on --addr %s: without signature checks anyone who reaches the address controls the platform; listen on 127.0.0.1 or drop --no-auth", addr)
}

// functionIdentity is what auth needs of a deployed function.
func (s *Server) functionIdentity(name string) (*auth.FunctionIdentity, bool) {
	if s.Registry == nil {
		return nil, false
	}
	f, ok := s.Registry.Get(name)
	if !ok {
		return nil, false
	}
	return &auth.FunctionIdentity{Name: f.Config.Name, Service: f.Service, Stage: f.Stage, Region: f.Region,
		Revision: f.RevisionID, Statements: f.Config.IAMStatements, ManagedPolicies: f.Config.ManagedPolicies}, true
}

// functionVersionIdentity is a published version's identity: the IAM
// statements it was published with.
func (s *Server) functionVersionIdentity(name, version string) (*auth.FunctionIdentity, bool) {
	if s.Registry == nil {
		return nil, false
	}
	f, ok := s.Registry.Version(name, version)
	if !ok {
		return nil, false
	}
	return &auth.FunctionIdentity{Name: f.Config.Name, Service: f.Service, Stage: f.Stage, Region: f.Region, Version: f.Version,
		Revision: f.RevisionID, Statements: f.Config.IAMStatements, ManagedPolicies: f.Config.ManagedPolicies}, true
}

// functionCredentials gives an instance its credentials.
func (s *Server) functionCredentials(spec *runtime.Spec) (runtime.Credentials, error) {
	if s.Auth == nil {
		// --no-auth accepts anything, but SDKs in functions still want
		// credentials to sign with.
		return runtime.Credentials{AccessKeyID: "ASIANOAUTHNOAUTHNOAU", SecretAccessKey: "no-auth", SessionToken: "no-auth"}, nil
	}
	c, err := s.Auth.FunctionCredentials(spec.FunctionName, spec.Version)
	if err != nil {
		return runtime.Credentials{}, err
	}
	return runtime.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		SessionToken: c.SessionToken, Expiration: c.Expiration}, nil
}

// ensureAdminKey creates the administrator key on first start and writes it
// to the data directory, readable by its owner only.
func (s *Server) ensureAdminKey(ctx context.Context) error {
	path := filepath.Join(s.cfg.DataDir, CredentialsFile)
	if k, err := ReadCredentials(s.cfg.DataDir); err == nil {
		if stored, ok := s.Auth.Key(k.AccessKeyID); ok && stored.SecretAccessKey == k.SecretAccessKey {
			s.AdminKey = stored
			return nil
		}
		if len(s.Auth.ListKeys()) > 0 {
			// The operator revoked it: keep it revoked, say how to get a key.
			s.log.Warn("the administrator key in the data directory was revoked; use a key from `nimbus keys create`", "file", path)
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	k, err := s.Auth.CreateKey(ctx, "admin")
	if err != nil {
		return err
	}
	body := fmt.Sprintf("# nimbus administrator key (created by `nimbus up`); `nimbus env` prints it as exports\n[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		k.AccessKeyID, k.SecretAccessKey)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write the administrator key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the administrator key: %w", err)
	}
	s.AdminKey = k
	s.log.Info("administrator access key created", "accessKeyId", k.AccessKeyID, "file", path)
	return nil
}

// ReadCredentials reads the administrator key file of a data directory.
func ReadCredentials(dataDir string) (*auth.Key, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, CredentialsFile))
	if err != nil {
		return nil, err
	}
	k := &auth.Key{}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(name) {
		case "aws_access_key_id":
			k.AccessKeyID = strings.TrimSpace(value)
		case "aws_secret_access_key":
			k.SecretAccessKey = strings.TrimSpace(value)
		}
	}
	if k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return nil, fmt.Errorf("%s holds no access key", filepath.Join(dataDir, CredentialsFile))
	}
	return k, nil
}

// classify tells the auth middleware how to treat a request on the API
// listener: which protocol its errors take and which signing names it accepts.
func (s *Server) classify(r *http.Request) auth.Route {
	path := r.URL.Path
	switch {
	case s.s3Anonymous(r): // objectsweb.go
		return auth.Route{Open: true}
	case isS3(r) || s.s3HostSigned(r):
		return s3Route
	case path == "/healthz":
		return auth.Route{Open: true}
	case path == "/console" || strings.HasPrefix(path, console.Prefix):
		// A browser cannot sign: the console checks its own sessions (ADR 0037).
		return auth.Route{Open: true}
	case path == "/metrics":
		return s.metricsRoute(r) // metricsauth.go
	case strings.HasPrefix(path, deployapi.Prefix+"/"):
		if r.Method == http.MethodGet && strings.HasPrefix(path, deployapi.Prefix+"/code/") && s.Auth.CheckURL(r.URL) {
			return auth.Route{Open: true} // GetFunction's Code.Location
		}
		return auth.Route{Protocol: auth.ProtocolNimbus, OperatorsOnly: true,
			Verify: auth.VerifyOptions{Services: []string{"nimbus"}, MaxBody: maxSignedBody}}
	case strings.HasPrefix(path, "/2015-03-31/"):
		return auth.Route{Protocol: auth.ProtocolRESTJSON, Verify: auth.VerifyOptions{Services: []string{"lambda"}, MaxBody: maxSignedBody}}
	}
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "AmazonSQS."):
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{Services: sqsOnly, MaxBody: maxSignedBody}}
	case strings.HasPrefix(target, "AWSEvents."):
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{Services: eventsOnly, MaxBody: maxSignedBody}}
	case strings.HasPrefix(target, "DynamoDB_20120810."), strings.HasPrefix(target, "DynamoDBStreams_20120810."):
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{Services: dynamodbOnly, MaxBody: maxSignedBody}}
	case strings.HasPrefix(target, "Kinesis_20131202."):
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{Services: kinesisOnly, MaxBody: maxSignedBody}}
	case strings.HasPrefix(target, "AmazonSSM."):
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{Services: ssmOnly, MaxBody: maxSignedBody}}
	case strings.HasPrefix(target, "AWSStepFunctions."):
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{Services: statesOnly, MaxBody: maxSignedBody}}
	case strings.HasPrefix(target, "CodeDeploy_20141006."):
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{Services: codedeployOnly, MaxBody: maxSignedBody}}
	case target != "" || path != "/" && !strings.HasPrefix(path, "/"+appspec.AccountID+"/"):
		// A service this table does not name yet: the signature is checked,
		// its signing name is the edge's to judge.
		return auth.Route{Protocol: auth.ProtocolJSON, Verify: auth.VerifyOptions{MaxBody: maxSignedBody}}
	}
	// The query protocol: SQS or SNS, told apart only by the form's Action.
	return auth.Route{Protocol: auth.ProtocolQuery, Verify: auth.VerifyOptions{Services: queryServices, MaxBody: maxSignedBody}}
}

// Signing names the endpoint serves, per protocol.
var (
	sqsOnly        = []string{"sqs"}
	eventsOnly     = []string{"events"}
	dynamodbOnly   = []string{"dynamodb"}
	kinesisOnly    = []string{"kinesis"}
	ssmOnly        = []string{"ssm"}
	statesOnly     = []string{"states"}
	codedeployOnly = []string{"codedeploy"}
	queryServices  = []string{"sqs", "sns"}
)

// keys is the deploy API's key management, or nil (an interface holding a
// nil pointer would not be nil) when checking is off.
func (s *Server) keys() deployapi.Keys {
	if s.Auth == nil {
		return nil
	}
	return s.Auth
}

// verifyFunctionURL checks the signature of a request to a function URL
// whose authorizer is aws_iam (the gateway has read and bounded its body).
func (s *Server) verifyFunctionURL(r *http.Request) (context.Context, error) {
	p, err := s.Auth.Verify(r, auth.VerifyOptions{Services: []string{"lambda"}, MaxBody: math.MaxInt64})
	if err != nil {
		return nil, err
	}
	return auth.WithPrincipal(r.Context(), p, r.TLS != nil, time.Now()), nil
}
