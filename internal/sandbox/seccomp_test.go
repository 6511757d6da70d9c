package sandbox

import (
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// onFilteredThread runs fn on a thread of its own with the instance's
// filter and scopes, and ends the thread afterwards (a goroutine that exits
// locked takes its thread with it), so the rest of the test binary is not
// filtered.
func onFilteredThread(t testing.TB, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- err
			return
		}
		if err := installFilter(); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFilterRefusesUserNamespaces: the filter answers EPERM to a user
// namespace (whatever other flags come with it) and lets other unshares
// reach the kernel (which refuses them for want of privilege, or not).
func TestFilterRefusesUserNamespaces(t *testing.T) {
	if seccompArch() == 0 {
		t.Skip("no filter for this architecture")
	}
	onFilteredThread(t, func() {
		for _, flags := range []int{unix.CLONE_NEWUSER, unix.CLONE_NEWUSER | unix.CLONE_NEWNS} {
			if _, _, errno := syscall.RawSyscall(unix.SYS_UNSHARE, uintptr(flags), 0, 0); errno != unix.EPERM {
				t.Errorf("unshare(%#x): %v, want EPERM", flags, errno)
			}
		}
		if _, _, errno := syscall.RawSyscall(unix.SYS_CLONE3, 0, 0, 0); errno != unix.ENOSYS {
			t.Errorf("clone3: %v, want ENOSYS", errno)
		}
		if _, _, errno := syscall.RawSyscall(unix.SYS_IO_URING_SETUP, 1, 0, 0); errno != unix.EPERM {
			t.Errorf("io_uring_setup: %v, want EPERM", errno)
		}
		// Not in the filter: the kernel's own answer to a bad argument.
		if _, _, errno := syscall.RawSyscall(unix.SYS_UNSHARE, 1<<63, 0, 0); errno != unix.EINVAL {
			t.Errorf("unshare(bad flags): %v, want the kernel's EINVAL", errno)
		}
	})
}

// TestFilterKeepsNetlinkToRoute: netlink sockets open for NETLINK_ROUTE only;
// other domains are untouched.
func TestFilterKeepsNetlinkToRoute(t *testing.T) {
	if seccompArch() == 0 {
		t.Skip("no filter for this architecture")
	}
	onFilteredThread(t, func() {
		open := func(domain, typ, proto int) error {
			fd, _, errno := syscall.RawSyscall(unix.SYS_SOCKET, uintptr(domain), uintptr(typ), uintptr(proto))
			if errno != 0 {
				return errno
			}
			unix.Close(int(fd))
			return nil
		}
		if err := open(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err != nil {
			t.Errorf("NETLINK_ROUTE: %v", err)
		}
		for _, proto := range []int{unix.NETLINK_SOCK_DIAG, unix.NETLINK_KOBJECT_UEVENT, unix.NETLINK_GENERIC, unix.NETLINK_AUDIT} {
			if err := open(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != unix.EPERM {
				t.Errorf("netlink protocol %d: %v, want EPERM", proto, err)
			}
		}
		if err := open(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			t.Errorf("an IPv4 socket: %v", err)
		}
		if err := open(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			t.Errorf("a unix socket: %v", err)
		}
	})
}

// BenchmarkSyscall* measure what the filter adds to every system call of a
// function (getppid: the kernel does almost nothing else).
func BenchmarkSyscallUnfiltered(b *testing.B) {
	for b.Loop() {
		syscall.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
}

func BenchmarkSyscallFiltered(b *testing.B) {
	onFilteredThread(b, func() {
		for b.Loop() {
			syscall.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		}
	})
}

// TestFilterSupportNamesMissingArchitectures: a build for an architecture
// the filter is not written for says so (the status API and the start
// warning carry it) rather than running unfiltered in silence.
func TestFilterSupportNamesMissingArchitectures(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		if err := filterSupport(arch); err != nil {
			t.Errorf("%s: %v, want a filter", arch, err)
		}
	}
	for _, arch := range []string{"riscv64", "ppc64le", "s390x", "386"} {
		err := filterSupport(arch)
		if err == nil || !strings.Contains(err.Error(), arch) {
			t.Errorf("%s: %v, want an error naming the architecture", arch, err)
		}
	}
	s := &Sandbox{cfg: Config{DropPrivileges: true}, FilterError: filterSupport("riscv64")}
	if st := s.Status(); st.Filtered || !strings.Contains(st.FilterReason, "riscv64") {
		t.Errorf("status: filtered %v, reason %q", st.Filtered, st.FilterReason)
	}
	s.FilterError = nil
	if st := s.Status(); !st.Filtered || st.FilterReason != "" {
		t.Errorf("status with a filter: filtered %v, reason %q", st.Filtered, st.FilterReason)
	}
}
