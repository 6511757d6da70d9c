package sandbox

import (
	"context"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/store"
)

func openUIDBucket(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// TestUIDsAreAllocatedNotDerived: names that hash alike get distinct uids,
// the store remembers them, and two platforms on one host never share one.
func TestUIDsAreAllocatedNotDerived(t *testing.T) {
	ctx := context.Background()
	locks := t.TempDir()
	st := openUIDBucket(t)
	kv, err := st.KeyValue(ctx, "nimbus_uids", 1)
	if err != nil {
		t.Fatal(err)
	}
	// A range of 4: every name collides with another's hash.
	r := newUIDRegistry(kv, 1000, 4, locks)
	seen := map[int]string{}
	for _, name := range []string{"a", "b", "c", "d"} {
		uid, err := r.get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[uid]; dup || uid < 1000 || uid >= 1004 {
			t.Fatalf("%s got uid %d (also %q's)", name, uid, other)
		}
		seen[uid] = name
	}
	if _, err := r.get(ctx, "e"); err == nil {
		t.Fatal("a fifth function got a uid from a range of four")
	}
	want, _ := r.get(ctx, "c")
	r.close()

	// The next run of the platform finds the same uids in the store.
	again := newUIDRegistry(kv, 1000, 4, locks)
	if got, err := again.get(ctx, "c"); err != nil || got != want {
		t.Fatalf("after a restart c has uid %d (%v), want %d", got, err, want)
	}

	// A second platform on the host (its own store) cannot take uids the
	// first one holds, even for the same name.
	kv2, err := openUIDBucket(t).KeyValue(ctx, "nimbus_uids", 1)
	if err != nil {
		t.Fatal(err)
	}
	other := newUIDRegistry(kv2, 1000, 4, locks)
	uid, err := other.get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if uid == want {
		t.Fatalf("two platforms on one host gave uid %d to their functions", uid)
	}
	again.close()
	other.close()
}
