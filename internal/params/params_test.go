package params

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-platform/nimbus/internal/store"
)

func open(t *testing.T, dir string) (*Store, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Config{Store: st, DataDir: dir})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return s, st.Close
}

func TestStoreVersionsSecretsAndRestart(t *testing.T) {
	dir := t.TempDir()
	s, closeStore := open(t, dir)
	ctx := context.Background()
	if v, err := s.Put(ctx, PutInput{Name: "/app/db/password", Value: "hunter2", Type: SecureString}); err != nil || v != 1 {
		t.Fatalf("put: %d %v", v, err)
	}
	if _, err := s.Put(ctx, PutInput{Name: "/app/db/password", Value: "x", Type: SecureString}); !IsKind(err, AlreadyExists) {
		t.Fatalf("put without overwrite: %v", err)
	}
	if v, err := s.Put(ctx, PutInput{Name: "/app/db/password", Value: "correct horse", Overwrite: true}); err != nil || v != 2 {
		t.Fatalf("overwrite: %d %v", v, err)
	}
	p, err := s.Get(ctx, "/app/db/password", false)
	if err != nil || p.Value == "correct horse" || p.Type != SecureString || p.KeyID != DefaultKeyID {
		t.Fatalf("get without decryption: %+v %v", p, err)
	}
	p, err = s.Get(ctx, "/app/db/password:1", true)
	if err != nil || p.Value != "hunter2" || p.Version != 1 {
		t.Fatalf("get version 1: %+v %v", p, err)
	}
	// At rest, the value is nowhere in the store's files.
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("correct horse")) {
				t.Errorf("%s holds the SecureString in clear", path)
			}
		}
		return nil
	})
	if st, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	closeStore()

	s, closeStore = open(t, dir)
	defer closeStore()
	p, err = s.Get(ctx, "/app/db/password", true)
	if err != nil || p.Value != "correct horse" || p.Version != 2 {
		t.Fatalf("after restart: %+v %v", p, err)
	}
	if err := s.Delete(ctx, "/app/db/password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "/app/db/password", true); !IsKind(err, NotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if v, err := s.Put(ctx, PutInput{Name: "/app/db/password", Value: "again", Type: String}); err != nil || v != 1 {
		t.Fatalf("recreated: %d %v", v, err)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	dir := t.TempDir()
	_, closeStore := open(t, dir)
	closeStore()
	if err := os.WriteFile(filepath.Join(dir, KeyFile), bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := Open(context.Background(), Config{Store: st, DataDir: dir}); err == nil || !strings.Contains(err.Error(), "not the key") {
		t.Fatalf("open with another key: %v", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
	}{
		{"plain", 0},
		{"/a/b-c/d_e.f", 0},
		{"", Invalid},
		{"a/b", Invalid},
		{"/a//b", Invalid},
		{"/a/b/", Invalid},
		{"/aws/x", Invalid},
		{"SSM-thing", Invalid},
		{"/a b", Invalid},
		{"/" + strings.Repeat("a/", 14) + "z", 0},
		{"/" + strings.Repeat("a/", 15) + "z", HierarchyLevelLimit},
		{"/" + strings.Repeat("a", 2048), Invalid},
	} {
		err := ValidateName(tc.name)
		if (tc.kind == 0) != (err == nil) || (tc.kind != 0 && !IsKind(err, tc.kind)) {
			t.Errorf("ValidateName(%.40q) = %v, want kind %d", tc.name, err, tc.kind)
		}
	}
}

func TestPutRules(t *testing.T) {
	s, closeStore := open(t, t.TempDir())
	defer closeStore()
	ctx := context.Background()
	for _, tc := range []struct {
		in   PutInput
		kind Kind
	}{
		{PutInput{Name: "/n", Value: "v"}, Invalid}, // no type for a new parameter
		{PutInput{Name: "/n", Value: "", Type: String}, Invalid},
		{PutInput{Name: "/n", Value: strings.Repeat("x", 4097), Type: String}, Invalid},
		{PutInput{Name: "/n", Value: "v", Type: "Number"}, Invalid},
		{PutInput{Name: "/n", Value: "abc", Type: String, AllowedPattern: `^\d+$`}, PatternMismatch},
		{PutInput{Name: "/n", Value: "abc", Type: String, AllowedPattern: `(`}, InvalidAllowedPattern},
	} {
		if _, err := s.Put(ctx, tc.in); !IsKind(err, tc.kind) {
			t.Errorf("Put(%+v) = %v, want kind %d", tc.in, err, tc.kind)
		}
	}
	if _, err := s.Put(ctx, PutInput{Name: "/n", Value: "42", Type: String, AllowedPattern: `^\d+$`}); err != nil {
		t.Fatal(err)
	}
	// The pattern stays with the parameter.
	if _, err := s.Put(ctx, PutInput{Name: "/n", Value: "x", Overwrite: true}); !IsKind(err, PatternMismatch) {
		t.Fatalf("overwrite against the kept pattern: %v", err)
	}
	invalid, v, err := s.Label(ctx, "/n", 0, []string{"prod", "1bad", "awsx"})
	if err != nil || v != 1 || len(invalid) != 2 {
		t.Fatalf("label: %v %d %v", invalid, v, err)
	}
	if p, err := s.Get(ctx, "/n:prod", false); err != nil || p.Value != "42" {
		t.Fatalf("get by label: %+v %v", p, err)
	}
	if _, err := s.Get(ctx, "/n:7", false); !IsKind(err, VersionNotFound) {
		t.Fatalf("get missing version: %v", err)
	}
}

func TestInPath(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		recursive  bool
		want       bool
	}{
		{"/a/b", "/a", false, true},
		{"/a/b/c", "/a", false, false},
		{"/a/b/c", "/a/", true, true},
		{"/ab", "/a", true, false},
		{"top", "/", false, true},
		{"/a", "/a", true, false},
	} {
		if got := InPath(tc.name, tc.path, tc.recursive); got != tc.want {
			t.Errorf("InPath(%q, %q, %v) = %v", tc.name, tc.path, tc.recursive, got)
		}
	}
}

func TestListPath(t *testing.T) {
	s, closeStore := open(t, t.TempDir())
	defer closeStore()
	ctx := context.Background()
	for _, n := range []string{"/a/b", "/a/b.c", "/a/b/c", "/a/bc/d.e/f", "/ab", "top", "t.o.p", "/x"} {
		if _, err := s.Put(ctx, PutInput{Name: n, Value: "v", Type: String}); err != nil {
			t.Fatalf("put %s: %v", n, err)
		}
	}
	for _, tc := range []struct {
		path      string
		recursive bool
		want      string
	}{
		{"/a", false, "[/a/b /a/b.c]"},
		{"/a/", true, "[/a/b /a/b.c /a/b/c /a/bc/d.e/f]"},
		{"/a/bc/d.e", false, "[/a/bc/d.e/f]"},
		{"/", false, "[/ab /x t.o.p top]"},
		{"/", true, "[/a/b /a/b.c /a/b/c /a/bc/d.e/f /ab /x t.o.p top]"},
		{"/none", true, "[]"},
	} {
		ps, err := s.ListPath(ctx, tc.path, tc.recursive, false)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		if got := fmt.Sprint(names); got != tc.want && !(tc.want == "[]" && names == nil) {
			t.Errorf("ListPath(%q, %v) = %s, want %s", tc.path, tc.recursive, got, tc.want)
		}
	}
}
