package sandbox

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Instances share the host's network namespace (ADR 0028), and abstract unix
// sockets belong to the network namespace, not to the file system: the
// private root hides none of them, and connecting to one checks no
// permission. Landlock's scopes (Linux 6.12, ABI 6) confine an instance to
// the abstract sockets its own processes created and to signalling its own
// processes; neither needs a rule nor touches the file system.
const instanceScopes = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL

// scopeAttr is struct landlock_ruleset_attr up to its scoped field (24
// bytes: the size kernels with scopes accept).
type scopeAttr struct {
	handledAccessFS  uint64
	handledAccessNet uint64
	scoped           uint64
}

// scopeSupport says why instances cannot be scoped on this host, nil if they
// can.
func scopeSupport() error {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	switch {
	case errno == unix.ENOSYS:
		return errors.New("the kernel has no Landlock: functions can connect to the host's abstract unix sockets")
	case errno == unix.EOPNOTSUPP:
		return errors.New("landlock is turned off at boot: functions can connect to the host's abstract unix sockets")
	case errno != 0:
		return fmt.Errorf("landlock: %w", errno)
	case abi < 6:
		return fmt.Errorf("landlock ABI %d has no scopes (6, Linux 6.12): functions can connect to the host's abstract unix sockets", abi)
	}
	return nil
}

// restrictScopes confines the calling thread, and what it execs, to its
// own abstract sockets and processes. It needs no_new_privs (or
// CAP_SYS_ADMIN) and applies to the calling thread only: the init step's
// thread is locked, and it is the one that execs.
func restrictScopes() error {
	attr := scopeAttr{scoped: instanceScopes}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return fmt.Errorf("landlock ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return fmt.Errorf("landlock restrict: %w", errno)
	}
	return nil
}
