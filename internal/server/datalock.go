package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// lockFileName is the file in the data directory that one platform holds
// locked while it runs.
const lockFileName = "nimbus.lock"

// ErrDataDirInUse is returned by Start when another platform holds the data
// directory.
var ErrDataDirInUse = errors.New("data directory is in use")

// dataLock is an exclusive flock on the data directory's lock file. The
// kernel releases it when the process ends, however it ends, so a crash
// never leaves a stale lock behind; the file's content (pid, address) only
// tells a second platform who holds it.
type dataLock struct {
	f *os.File
}

// lockDataDir takes the data directory's lock or says who holds it.
func lockDataDir(dir string) (*dataLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the data directory's lock %s: %w", path, err)
	}
	if err := flockWithin(f, lockWait); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by another nimbus (%s); stop it or choose another --data", ErrDataDirInUse, dir, describeHolder(holder))
		}
		return nil, fmt.Errorf("lock the data directory %s: %w", dir, err)
	}
	l := &dataLock{f: f}
	if err := l.record(""); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// record writes who holds the lock: the pid and, once known, the address.
// lockWait bounds the wait for a lock that is held. A platform that just
// stopped in this process can still hold it for a moment through a child
// forked by another goroutine: the child shares the lock's file description
// until it execs (close-on-exec closes it only then).
const lockWait = 3 * time.Second

// flockWithin takes an exclusive flock on f, retrying for up to wait while
// another holds it.
func flockWithin(f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (l *dataLock) record(addr string) error {
	line := "pid " + strconv.Itoa(os.Getpid())
	if addr != "" {
		line += " addr " + addr
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write the data directory's lock: %w", err)
	}
	if _, err := l.f.WriteAt([]byte(line+"\n"), 0); err != nil {
		return fmt.Errorf("write the data directory's lock: %w", err)
	}
	return nil
}

func (l *dataLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close() // closing the only descriptor drops the flock
	l.f = nil
}

// describeHolder turns the lock file's "pid N addr A" into words.
func describeHolder(content []byte) string {
	fields := strings.Fields(string(content))
	var pid, addr string
	for i := 0; i+1 < len(fields); i += 2 {
		switch fields[i] {
		case "pid":
			pid = fields[i+1]
		case "addr":
			addr = fields[i+1]
		}
	}
	switch {
	case pid == "":
		return "pid unknown"
	case addr == "":
		return "pid " + pid
	default:
		return "pid " + pid + ", serving " + addr
	}
}
