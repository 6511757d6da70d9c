package s3_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestAWSSync: `aws s3 sync` sends a tree of small files up, a second sync
// has nothing to do, and a sync back down reproduces the tree. The file
// count is kept small for CI (NIMBUS_SYNC_FILES raises it, e.g. to 10000).
func TestAWSSync(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	files := 300
	if v, err := strconv.Atoi(os.Getenv("NIMBUS_SYNC_FILES")); err == nil && v > 0 {
		files = v
	}
	p := testkit.Start(t, nil)
	aws := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("aws", args...)
		cmd.Env = append(append(os.Environ(), p.AWSEnv()...), "AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	up, down := t.TempDir(), t.TempDir()
	for i := range files {
		f := filepath.Join(up, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%05d.txt", i))
		_ = os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte(strings.Repeat(fmt.Sprint(i, " "), 1+i%50)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	aws("s3", "mb", "s3://synced")
	start := time.Now()
	if out := aws("s3", "sync", "--no-progress", up, "s3://synced/tree"); strings.Count(out, "upload:") != files {
		t.Fatalf("first sync uploaded %d files of %d", strings.Count(out, "upload:"), files)
	}
	upTime := time.Since(start)
	if out := aws("s3", "sync", "--no-progress", up, "s3://synced/tree"); strings.Contains(out, "upload:") {
		t.Fatalf("a second sync uploaded again:\n%s", out)
	}
	start = time.Now()
	if out := aws("s3", "sync", "--no-progress", "s3://synced/tree", down); strings.Count(out, "download:") != files {
		t.Fatalf("sync down fetched %d files of %d", strings.Count(out, "download:"), files)
	}
	t.Logf("%d files: sync up %v, down %v", files, upTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for i := range files {
		rel := filepath.Join(fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%05d.txt", i))
		a, _ := os.ReadFile(filepath.Join(up, rel))
		b, err := os.ReadFile(filepath.Join(down, rel))
		if err != nil || string(a) != string(b) {
			t.Fatalf("%s differs after the round trip: %v", rel, err)
		}
	}
}
