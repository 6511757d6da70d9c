package sandbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"
)

// Function uids are allocated, not derived: a uid derived from the name alone
// can be collided with on purpose, and the twin would read its victim's
// /proc entries and pass its Runtime API's peer check. The registry in the
// store keeps one uid per function, unique across the platform (every node
// shares it); a claim file under a host-wide directory, flock'ed while the
// platform runs, keeps uids unique across platforms sharing the host. The
// lock dies with its platform, so a kill -9 frees its uids.

// uidRegistry allocates and remembers function uids.
type uidRegistry struct {
	kv      jetstream.KeyValue // nil: remembered in memory only
	base    uint32
	span    uint32
	lockDir string

	mu     sync.Mutex
	byName map[string]int
	claims map[int]*os.File // host-wide claims this platform holds
}

func newUIDRegistry(kv jetstream.KeyValue, base, span uint32, lockDir string) *uidRegistry {
	return &uidRegistry{kv: kv, base: base, span: span, lockDir: lockDir, byName: map[string]int{}, claims: map[int]*os.File{}}
}

// get returns function's uid, allocating one the first time.
func (r *uidRegistry) get(ctx context.Context, function string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uid, ok := r.byName[function]; ok {
		return uid, nil
	}
	if r.kv != nil {
		if e, err := r.kv.Get(ctx, "fn."+function); err == nil {
			if uid, err := strconv.Atoi(string(e.Value())); err == nil && r.inRange(uid) {
				if ok, err := r.claimHost(uid); err != nil {
					return 0, err
				} else if ok {
					r.byName[function] = uid
					return uid, nil
				}
				// Another platform on this host took it meanwhile: allocate anew.
			}
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, fmt.Errorf("read the uid of %s: %w", function, err)
		}
	}
	h := fnv.New32a()
	h.Write([]byte(function))
	start := h.Sum32() % r.span
	for i := range r.span {
		uid := int(r.base + (start+i)%r.span)
		if r.taken(uid) {
			continue
		}
		if r.kv != nil {
			ok, err := r.claimStore(ctx, uid, function)
			if err != nil {
				return 0, err
			}
			if !ok {
				continue
			}
		}
		ok, err := r.claimHost(uid)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		if r.kv != nil {
			if _, err := r.kv.Put(ctx, "fn."+function, []byte(strconv.Itoa(uid))); err != nil {
				return 0, fmt.Errorf("record the uid of %s: %w", function, err)
			}
		}
		r.byName[function] = uid
		return uid, nil
	}
	return 0, errors.New("no function uid is free")
}

func (r *uidRegistry) inRange(uid int) bool {
	return uid >= int(r.base) && uid < int(r.base+r.span)
}

// taken: this platform gave the uid to another function. Called with mu held.
func (r *uidRegistry) taken(uid int) bool {
	for _, u := range r.byName {
		if u == uid {
			return true
		}
	}
	return false
}

// claimStore records uid as function's in the store; false when another
// function has it.
func (r *uidRegistry) claimStore(ctx context.Context, uid int, function string) (bool, error) {
	key := "uid." + strconv.Itoa(uid)
	_, err := r.kv.Create(ctx, key, []byte(function))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("claim uid %d: %w", uid, err)
	}
	e, err := r.kv.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read uid %d: %w", uid, err)
	}
	return string(e.Value()) == function, nil
}

// claimHost takes the host-wide claim on uid; false when another platform
// holds it. Called with mu held.
func (r *uidRegistry) claimHost(uid int) (bool, error) {
	if _, ok := r.claims[uid]; ok {
		return true, nil
	}
	if err := os.MkdirAll(r.lockDir, 0o700); err != nil {
		return false, fmt.Errorf("create the uid claims directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(r.lockDir, strconv.Itoa(uid)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("claim uid %d: %w", uid, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil
		}
		return false, fmt.Errorf("claim uid %d: %w", uid, err)
	}
	r.claims[uid] = f
	return true, nil
}

// close gives up the host-wide claims.
func (r *uidRegistry) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, f := range r.claims {
		f.Close()
		delete(r.claims, uid)
	}
}
