package s3_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// boto3Script uploads and downloads a 12 MB file with boto3's transfer
// manager, once below and once above its multipart threshold, and checks
// the bytes and the multipart ETag.
const boto3Script = `
import hashlib, os, sys, boto3
from boto3.s3.transfer import TransferConfig
s3 = boto3.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="boto")
src, work = sys.argv[1], sys.argv[2]
want = hashlib.sha256(open(src, "rb").read()).hexdigest()
for name, cfg in [("whole", TransferConfig(multipart_threshold=64 << 20)),
                  ("parts", TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=4))]:
    s3.upload_file(src, "boto", "dir/" + name, Config=cfg)
    etag = s3.head_object(Bucket="boto", Key="dir/" + name)["ETag"]
    assert (name == "parts") == etag.endswith('-3"'), (name, etag)
    out = os.path.join(work, name)
    s3.download_file("boto", "dir/" + name, out, Config=cfg)
    got = hashlib.sha256(open(out, "rb").read()).hexdigest()
    assert got == want, (name, got, want)
print("ok")
`

// TestBoto3Transfers: boto3's upload_file/download_file, single-part and
// multipart (with ranged, concurrent downloads), against nimbus.
func TestBoto3Transfers(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 is not installed")
	}
	p := testkit.Start(t, nil)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 12<<20)
	for i := range data {
		data[i] = byte(i * 31 % 253)
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", boto3Script, src, dir)
	cmd.Env = append(os.Environ(), p.AWSEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}
