package ssm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const kmsApp = `service: kms
provider:
  name: aws
  runtime: nodejs20.x
functions:
  reader:
    handler: handler.h
    iamRoleStatements:
      - Effect: Allow
        Action: [ssm:GetParameter, ssm:GetParameters, ssm:GetParametersByPath, ssm:GetParameterHistory]
        Resource: arn:aws:ssm:*:*:parameter/kms/*
  decrypter:
    handler: handler.h
    iamRoleStatements:
      - Effect: Allow
        Action: [ssm:GetParameter, ssm:GetParameters, ssm:GetParametersByPath, ssm:GetParameterHistory]
        Resource: arn:aws:ssm:*:*:parameter/kms/*
      - Effect: Allow
        Action: kms:Decrypt
        Resource: arn:aws:kms:*:*:alias/team-key
  deleter:
    handler: handler.h
    iamRoleStatements:
      - Effect: Allow
        Action: ssm:DeleteParameters
        Resource: arn:aws:ssm:*:*:parameter/kms/team/*
`

// A SecureString sealed under a key of the owner's own (not alias/aws/ssm)
// was decrypted for any caller allowed to read the parameter; AWS also asks
// for kms:Decrypt on that key. The default key's policy lets every reader of
// the parameter decrypt it, as here.
// kmsPlatform deploys kmsApp, puts a SecureString under the team's key and
// one under the default key, and makes SSM clients with a function's
// credentials.
func kmsPlatform(t *testing.T) (admin *awsssm.Client, as func(fn string) *awsssm.Client) {
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	for name, body := range map[string]string{"serverless.yml": kmsApp, "handler.js": "exports.h = async () => ({});\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Deploy(dir)
	ctx := context.Background()
	admin = awsssm.NewFromConfig(p.AWSConfig())
	for _, in := range []awsssm.PutParameterInput{
		{Name: aws.String("/kms/team/secret"), Value: aws.String("team secret"), Type: types.ParameterTypeSecureString, KeyId: aws.String("alias/team-key")},
		{Name: aws.String("/kms/plain/secret"), Value: aws.String("default-key secret"), Type: types.ParameterTypeSecureString},
	} {
		if _, err := admin.PutParameter(ctx, &in); err != nil {
			t.Fatal(err)
		}
	}
	as = func(fn string) *awsssm.Client {
		c, err := p.Auth.FunctionCredentials("kms-dev-"+fn, "$LATEST")
		if err != nil {
			t.Fatal(err)
		}
		cfg := p.AWSConfig()
		cfg.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
		return awsssm.NewFromConfig(cfg)
	}
	return admin, as
}

func TestSecureStringUnderACustomKeyNeedsDecrypt(t *testing.T) {
	_, as := kmsPlatform(t)
	ctx := context.Background()
	reader, decrypter := as("reader"), as("decrypter")
	denied := func(what string, err error) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
			t.Errorf("%s: %v, want AccessDeniedException", what, err)
		}
	}
	yes := aws.Bool(true)

	// The default key: readable in clear by whoever may read it.
	if out, err := reader.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/kms/plain/secret"), WithDecryption: yes}); err != nil || aws.ToString(out.Parameter.Value) != "default-key secret" {
		t.Fatalf("default key: %v", err)
	}
	// The team's key: ciphertext without decryption, refused with it.
	if out, err := reader.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/kms/team/secret")}); err != nil || aws.ToString(out.Parameter.Value) == "team secret" {
		t.Fatalf("without decryption: %v", err)
	}
	_, err := reader.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/kms/team/secret"), WithDecryption: yes})
	denied("GetParameter", err)
	_, err = reader.GetParameters(ctx, &awsssm.GetParametersInput{Names: []string{"/kms/team/secret"}, WithDecryption: yes})
	denied("GetParameters", err)
	_, err = reader.GetParametersByPath(ctx, &awsssm.GetParametersByPathInput{Path: aws.String("/kms/team"), Recursive: yes, WithDecryption: yes})
	denied("GetParametersByPath", err)
	_, err = reader.GetParameterHistory(ctx, &awsssm.GetParameterHistoryInput{Name: aws.String("/kms/team/secret"), WithDecryption: yes})
	denied("GetParameterHistory", err)

	// kms:Decrypt on the key opens it.
	if out, err := decrypter.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/kms/team/secret"), WithDecryption: yes}); err != nil || aws.ToString(out.Parameter.Value) != "team secret" {
		t.Fatalf("with kms:Decrypt: %v", err)
	}
	if out, err := decrypter.GetParametersByPath(ctx, &awsssm.GetParametersByPathInput{Path: aws.String("/kms/team"), Recursive: yes, WithDecryption: yes}); err != nil || len(out.Parameters) != 1 || aws.ToString(out.Parameters[0].Value) != "team secret" {
		t.Fatalf("by path with kms:Decrypt: %v", err)
	}
}

// DeleteParameters deleted the names it was allowed to before it met one it
// was not, then answered AccessDenied: a refused call changed the store.
func TestRefusedDeleteParametersDeletesNothing(t *testing.T) {
	admin, as := kmsPlatform(t)
	ctx := context.Background()
	_, err := as("deleter").DeleteParameters(ctx, &awsssm.DeleteParametersInput{Names: []string{"/kms/team/secret", "/kms/plain/secret"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("DeleteParameters of a name outside the grant: %v, want AccessDeniedException", err)
	}
	if _, err := admin.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/kms/team/secret")}); err != nil {
		t.Fatalf("the allowed name was deleted by the refused call: %v", err)
	}
	out, err := as("deleter").DeleteParameters(ctx, &awsssm.DeleteParametersInput{Names: []string{"/kms/team/secret"}})
	if err != nil || len(out.DeletedParameters) != 1 {
		t.Fatalf("DeleteParameters within the grant: %v", err)
	}
}
