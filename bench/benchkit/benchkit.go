// Package benchkit holds what the benchmarks share: a scratch directory the
// function users can reach, the no-op Go function built and zipped as users
// do, a platform started in-process, the machine's description, and the
// BENCHMARKS.md section writer.
package benchkit

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/client"
	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/server"
)

// Workspace is a scratch directory for one benchmark run.
type Workspace struct {
	Dir string
}

// NewWorkspace makes a scratch directory that sandboxed function users can
// traverse. Remove it with Close.
func NewWorkspace(prefix string) (*Workspace, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Workspace{Dir: dir}, nil
}

// Close removes the workspace.
func (w *Workspace) Close() { _ = os.RemoveAll(w.Dir) }

// App writes a service directory holding serverless.yml and files (name:
// content) and returns its path.
func (w *Workspace) App(manifestYAML string, files map[string][]byte) (string, error) {
	app := filepath.Join(w.Dir, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		return "", err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(app, name), data, 0o644); err != nil {
			return "", err
		}
	}
	return app, os.WriteFile(filepath.Join(app, "serverless.yml"), []byte(manifestYAML), 0o644)
}

// NoopGo builds bench/core/noop-go (run from the repository root) as a static
// Lambda binary; it returns the binary's path and a zip holding it as bootstrap.
func (w *Workspace) NoopGo() (bin string, zipData []byte, err error) {
	bin = filepath.Join(w.Dir, "noop-go")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./bench/core/noop-go")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", nil, fmt.Errorf("build the Go function (run from the repository root): %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", nil, err
	}
	zipData, err = ZipExecutable(data, "bootstrap")
	return bin, zipData, err
}

// ZipExecutable returns a zip holding data as one executable entry.
func ZipExecutable(data []byte, entry string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: entry, Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Start runs a platform in the workspace and deploys app.
func (w *Workspace) Start(app string, mutate func(*server.Config)) (*server.Server, error) {
	cfg := server.Config{
		DataDir:        filepath.Join(w.Dir, "data"),
		Addr:           "127.0.0.1:0",
		RunDir:         filepath.Join(w.Dir, "run"),
		MaxConcurrency: 1000,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.Start(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	if _, err := Client(srv).Deploy(context.Background(), app, manifest.Options{}, nil); err != nil {
		_ = srv.Close(context.Background())
		return nil, err
	}
	return srv, nil
}

// Client is a CLI client of srv, signing with its administrator key.
func Client(srv *server.Server) *client.Client {
	c := client.New(srv.URL())
	if k := srv.AdminKey; k != nil {
		c.WithCredentials(client.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, "us-east-1")
	}
	return c
}

// Machine describes this machine for the record.
func Machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load := ""
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average at start " + strings.Join(strings.Fields(string(data))[:3], " ")
	}
	return fmt.Sprintf("%d cores (%s), %s, %s%s", runtime.NumCPU(), model, runtime.Version(), time.Now().UTC().Format("2006-01-02"), load)
}

// Percentile returns the p-th percentile (nearest rank) of d.
func Percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[min(i, len(s)-1)]
}

// WriteSection replaces (or appends) the "## title" section of a Markdown file.
func WriteSection(path, title, body string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	if text == "" {
		text = "# Benchmarks\n"
	}
	head := "## " + title + "\n"
	section := head + "\n" + body
	if i := strings.Index(text, head); i >= 0 {
		end := len(text)
		if j := strings.Index(text[i+len(head):], "\n## "); j >= 0 {
			end = i + len(head) + j + 1
		}
		text = text[:i] + section + "\n" + text[end:]
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
