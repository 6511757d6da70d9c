package s3_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestAWSCLI: `aws s3` and `aws s3api` as users run them.
func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	aws := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("aws", args...)
		cmd.Env = append(append(os.Environ(), p.AWSEnv()...), "AWS_EC2_METADATA_DISABLED=true")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	big := bytes.Repeat([]byte("abcdefgh"), 9<<17) // 9 MiB: the CLI uploads it in parts and reads it back in ranges
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "note.txt"), []byte("hello from the cli\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	aws("s3", "mb", "s3://cli-bucket")
	aws("s3", "cp", "note.txt", "s3://cli-bucket/docs/note.txt")
	aws("s3", "cp", "big.bin", "s3://cli-bucket/big.bin")
	if out := aws("s3", "ls"); !strings.Contains(out, "cli-bucket") {
		t.Fatalf("aws s3 ls:\n%s", out)
	}
	out := aws("s3", "ls", "s3://cli-bucket/")
	if !strings.Contains(out, "PRE docs/") || !strings.Contains(out, "9437184 big.bin") {
		t.Fatalf("aws s3 ls s3://cli-bucket/:\n%s", out)
	}
	if out := aws("s3", "ls", "--recursive", "s3://cli-bucket/"); !strings.Contains(out, "docs/note.txt") {
		t.Fatalf("aws s3 ls --recursive:\n%s", out)
	}
	aws("s3", "cp", "s3://cli-bucket/big.bin", "back.bin")
	if got, err := os.ReadFile(filepath.Join(dir, "back.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("downloaded %d bytes, %v", len(got), err)
	}
	if out := aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "docs/note.txt"); !strings.Contains(out, `"ContentLength": 19`) {
		t.Fatalf("head-object:\n%s", out)
	}
	aws("s3api", "put-object", "--bucket", "cli-bucket", "--key", "meta", "--body", "note.txt", "--metadata", "color=blue", "--content-type", "text/plain")
	if out := aws("s3api", "get-object", "--bucket", "cli-bucket", "--key", "meta", "out.txt"); !strings.Contains(out, `"color": "blue"`) || !strings.Contains(out, "text/plain") {
		t.Fatalf("get-object:\n%s", out)
	}
	aws("s3", "rm", "s3://cli-bucket/docs/note.txt")
	aws("s3", "rm", "--recursive", "s3://cli-bucket/")
	if out := aws("s3api", "list-objects-v2", "--bucket", "cli-bucket"); strings.Contains(out, "Key") {
		t.Fatalf("objects left after rm --recursive:\n%s", out)
	}
	aws("s3", "rb", "s3://cli-bucket")
	if out := aws("s3api", "list-buckets"); strings.Contains(out, "cli-bucket") {
		t.Fatalf("bucket left after rb:\n%s", out)
	}
}
