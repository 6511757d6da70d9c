package stepfunctions_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestBoto3 runs a boto3 Step Functions client against the platform.
func TestBoto3(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if exec.Command(python, "-c", "import boto3").Run() != nil {
		t.Skip("boto3 is not installed")
	}
	p := testkit.Start(t, nil)
	cmd := exec.Command(python, "testdata/boto3_smoke.py", p.URL())
	cmd.Env = append(append(cmd.Environ(), p.AWSEnv()...), "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("boto3 app: %v\n%s", err, out)
	}
}
