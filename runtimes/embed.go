// Package runtimes holds the Node.js and Python runtime clients that nimbus embeds in its binary.
//
// A managed-runtime function instance is one process started as
//
//	node    <dir>/node/bootstrap.js
//	python3 -u <dir>/python/bootstrap.py
//
// with the Lambda environment (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT as the working
// directory, LAMBDA_RUNTIME_DIR = the entry file's directory, AWS_LAMBDA_FUNCTION_* ...). Each client
// speaks the Lambda Runtime API and loads the user's handler; see README.md in this directory.
package runtimes

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

//go:embed node python ruby java
var files embed.FS

// Entry files, relative to the directory given to Install.
const (
	NodeEntry   = "node/bootstrap.js"
	PythonEntry = "python/bootstrap.py"
	// RubyEntry is the Ruby client, started as `ruby <dir>/ruby/bootstrap.rb`.
	RubyEntry = "ruby/bootstrap.rb"
	// JavaSource is the Java client's source, compiled with the JDK that
	// runs it (see internal/runtime) into JavaClasses/<key>.
	JavaSource  = "java/NimbusRuntime.java"
	JavaClasses = "java/classes"
)

// Install writes the runtime clients under dir (creating it) and returns the absolute paths of the
// Node.js and Python entry files. It is idempotent and safe to call concurrently, from several
// processes too: a file whose content is already right is left alone, others are written to a
// temporary file and renamed into place. dir and its subdirectories are made mode 0755 and the files
// 0644, so that function processes running under another uid can read them.
func Install(dir string) (nodeEntry, pythonEntry string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("runtimes: %w", err)
	}
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		if d.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, 0o755)
		}
		data, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		return writeFile(target, data)
	})
	if err != nil {
		return "", "", fmt.Errorf("runtimes: install into %s: %w", dir, err)
	}
	return filepath.Join(dir, filepath.FromSlash(NodeEntry)), filepath.Join(dir, filepath.FromSlash(PythonEntry)), nil
}

func writeFile(target string, data []byte) error {
	if old, err := os.ReadFile(target); err == nil && bytes.Equal(old, data) {
		if st, err := os.Stat(target); err == nil && st.Mode().Perm() == 0o644 {
			return nil
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

// PrecompilePython caches the Python client's bytecode in <dir>/python/__pycache__ by importing it once
// with the given interpreter. Call it after Install, as the user that owns dir, when function processes
// cannot write there themselves (an unprivileged uid): it saves every cold start compiling the client.
func PrecompilePython(ctx context.Context, python, dir string) error {
	code := "import sys; sys.dont_write_bytecode = False; sys.path.insert(0, sys.argv[1]); import nimbus_runtime"
	cmd := exec.CommandContext(ctx, python, "-c", code, filepath.Join(dir, "python"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("runtimes: precompile with %s: %w: %s", python, err, bytes.TrimSpace(out))
	}
	return nil
}
