package sandbox

import (
	"runtime"
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
