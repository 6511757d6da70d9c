package functions_test

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

type zipEntry struct {
	name, body string
	mode       os.FileMode
}

// writeService writes a service whose one function uses the zip built from
// entries as its artifact.
func writeService(t *testing.T, service, runtime, handler string, entries []zipEntry) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "code.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.body == "" {
			h.Method = zip.Store // a compressor per empty entry makes big zips slow to build
		}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	yml := "service: " + service + "\nprovider:\n  name: aws\n  runtime: " + runtime +
		"\npackage:\n  artifact: code.zip\nfunctions:\n  fn:\n    handler: " + handler + "\n"
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDeployRefusesZipThatClimbsThroughLinks runs the escape of issue 8
// against a real platform (as root when the tests run as root): a link that
// stays inside (a/b -> ..), a link that climbs through it twelve times to a
// directory outside, and a file written through that link. The file must
// not appear, the deploy must fail naming the entry, and nothing of the
// package may be left in the run directory.
func TestDeployRefusesZipThatClimbsThroughLinks(t *testing.T) {
	p := testkit.Start(t, nil)
	target := t.TempDir()
	rel := strings.TrimPrefix(target, "/")
	const levels = 12
	dir := writeService(t, "climb", "provided.al2", "bootstrap", []zipEntry{
		{name: "bootstrap", body: "#!/bin/sh\nexit 0\n", mode: 0o755},
		{name: "a/b", body: "..", mode: os.ModeSymlink | 0o777},
		{name: "e", body: strings.Repeat("a/b/", levels) + strings.Repeat("../", levels) + rel, mode: os.ModeSymlink | 0o777},
		{name: "e/PWNED", body: "owned\n", mode: 0o644},
	})
	_, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
	if err == nil {
		t.Fatal("the deploy of a package that writes through a link succeeded")
	}
	if !strings.Contains(err.Error(), "invalid code package") || !strings.Contains(err.Error(), `"e/PWNED"`) {
		t.Fatalf("deploy error does not name the bad entry: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(target, "PWNED")); statErr == nil {
		t.Fatalf("the package wrote %s", filepath.Join(target, "PWNED"))
	}
	left, _ := os.ReadDir(filepath.Join(p.Config.RunDir, "code"))
	if len(left) != 0 {
		t.Fatalf("the refused package left %s in the run directory", left[0].Name())
	}
	if _, ok := p.Registry.Get("climb-dev-fn"); ok {
		t.Fatal("the refused function is deployed")
	}

	// The link alone (no file written through it) is refused too: it leads out.
	dir = writeService(t, "climb2", "provided.al2", "bootstrap", []zipEntry{
		{name: "bootstrap", body: "#!/bin/sh\nexit 0\n", mode: 0o755},
		{name: "a/b", body: "..", mode: os.ModeSymlink | 0o777},
		{name: "e", body: strings.Repeat("a/b/", levels) + strings.Repeat("../", levels) + rel, mode: os.ModeSymlink | 0o777},
	})
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil); err == nil || !strings.Contains(err.Error(), `symlink "e" points outside`) {
		t.Fatalf("deploy of an escaping link: %v", err)
	}
}

// TestDeployKeepsLinksInsideThePackage: relative links that stay inside
// (as node_modules/.bin and shared modules have) deploy and work.
func TestDeployKeepsLinksInsideThePackage(t *testing.T) {
	p := testkit.Start(t, nil)
	dir := writeService(t, "links", "python3.12", "main.handler", []zipEntry{
		{name: "lib/real.py", body: "def handler(event, context):\n    return {'via': 'link', 'n': event['n']}\n", mode: 0o644},
		{name: "main.py", body: "lib/real.py", mode: os.ModeSymlink | 0o777},
		{name: "tools/bin/up", body: "../../lib", mode: os.ModeSymlink | 0o777},
	})
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := p.Lambda().Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("links-dev-fn"), Payload: []byte(`{"n":7}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.FunctionError != nil || string(out.Payload) != `{"via": "link", "n": 7}` {
		t.Fatalf("invoke: %v %s", aws.ToString(out.FunctionError), out.Payload)
	}
}

// TestDeployRefusesHugeAndBombZips: a 200,000-entry zip and a zip bomb are
// refused by a real platform with a clear error, and another deploy is not
// held up meanwhile (the platform answers it).
func TestDeployRefusesHugeAndBombZips(t *testing.T) {
	p := testkit.Start(t, nil)
	many := make([]zipEntry, 0, 200_001)
	many = append(many, zipEntry{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755})
	for i := range 200_000 {
		many = append(many, zipEntry{name: fmt.Sprintf("d%d/f%d", i%100, i), mode: 0o644})
	}
	dir := writeService(t, "many", "provided.al2", "bootstrap", many)
	start := time.Now()
	_, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "200001 entries, over the limit of 100000") {
		t.Fatalf("deploy of 200,001 entries: %v", err)
	}
	t.Logf("200,001-entry zip refused by the deploy (client packaging, upload and refusal) in %v", time.Since(start))

	dir = writeService(t, "bomb", "provided.al2", "bootstrap", []zipEntry{
		{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		{name: "zeros", body: string(make([]byte, 64<<20)), mode: 0o644},
	})
	if _, err := p.Client.Deploy(context.Background(), dir, manifest.Options{}, nil); err == nil || !strings.Contains(err.Error(), `entry "zeros" expands`) {
		t.Fatalf("deploy of a bomb: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(p.Config.RunDir, "code"))
	if len(left) != 0 {
		t.Fatalf("refused packages left %s in the run directory", left[0].Name())
	}
}
