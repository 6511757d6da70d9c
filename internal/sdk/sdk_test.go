package sdk

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name         string
		files        []string
		node, python bool
	}{
		{"missing folder", nil, false, false},
		{"node only", []string{"nodejs/node_modules/@aws-sdk/client-sqs/package.json"}, true, false},
		{"python only", []string{"python/boto3/__init__.py"}, false, true},
		{"both", []string{"nodejs/node_modules/@aws-sdk/client-sqs/package.json", "python/boto3/__init__.py"}, true, true},
		{"python without boto3", []string{"python/botocore/__init__.py"}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sdk")
			for _, f := range c.files {
				touch(t, filepath.Join(dir, f))
			}
			st := Check(dir)
			if st.Node != c.node || st.Python != c.python {
				t.Fatalf("Check = node %v python %v, want %v %v", st.Node, st.Python, c.node, c.python)
			}
		})
	}
}

// Function processes run under other uids: the folder must be readable by
// everyone and writable by no one else.
func TestMakeReadable(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "a", "b", "file.py"))
	exe := filepath.Join(dir, "a", "tool")
	touch(t, exe)
	if err := os.Chmod(exe, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := makeReadable(dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(dir, "a"):                 0o755,
		filepath.Join(dir, "a", "b"):            0o755,
		filepath.Join(dir, "a", "b", "file.py"): 0o644,
		exe:                                     0o755,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}

func TestSwapReplacesThePreviousFolder(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "sdk")
	touch(t, filepath.Join(dir, "old"))
	staging := filepath.Join(parent, ".sdk.new-1")
	touch(t, filepath.Join(staging, "new"))
	if err := swap(staging, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err != nil {
		t.Fatal("the new folder is not in place:", err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestPinnedLists(t *testing.T) {
	pkgs, err := debianPackages()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"python3-boto3", "python3-botocore", "python3-s3transfer"} {
		if !slices.Contains(pkgs, want) {
			t.Errorf("debian-packages.txt lacks %s: %v", want, pkgs)
		}
	}
	for _, p := range pkgs {
		if p == "" || p[0] == '#' {
			t.Errorf("comment or blank line taken as a package: %q", p)
		}
	}
}
