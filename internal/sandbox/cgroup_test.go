package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRemoveStaleCgroups(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"i999999999-1", "i999999999-2", fmt.Sprintf("i%d-1", os.Getpid()), "other"} {
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleCgroups(root)
	entries, _ := os.ReadDir(root)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{fmt.Sprintf("i%d-1", os.Getpid()), "other"}
	if !reflect.DeepEqual(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}
