package sandbox

import (
	"fmt"
	goruntime "runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A function needs no user namespace of its own (with it, every capability
// inside, and mounts) nor io_uring: both are kernel surface behind many local
// privilege escalations, and Lambda refuses both. The filter refuses them and
// lets everything else through; it is checked on every system call, so it
// stays a few instructions long.

// Classic BPF opcodes of a seccomp filter.
const (
	bpfLdAbs   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJge     = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJset    = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRet     = unix.BPF_RET | unix.BPF_K
	retAllow   = unix.SECCOMP_RET_ALLOW
	retEPERM   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS  = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	offArch    = 4  // struct seccomp_data: arch
	offNr      = 0  // nr
	offArg0Low = 16 // args[0], low 32 bits (little endian)
)

// seccompArch is the audit architecture of this build, 0 where the filter is
// not written for it.
func seccompArch() uint32 {
	switch goruntime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// instanceFilter is the program: calls of another architecture (32-bit
// entry points, x32) and clone3 (whose flags sit in memory a filter cannot
// read; C libraries fall back to clone) get ENOSYS; io_uring, and unshare or
// clone asking for a user namespace, get EPERM.
func instanceFilter(arch uint32) []unix.SockFilter {
	return []unix.SockFilter{
		/* 0 */ {Code: bpfLdAbs, K: offArch},
		/* 1 */ {Code: bpfJeq, Jt: 1, K: arch},
		/* 2 */ {Code: bpfRet, K: retENOSYS},
		/* 3 */ {Code: bpfLdAbs, K: offNr},
		/* 4 */ {Code: bpfJge, Jt: 11, K: 0x40000000}, // x32
		/* 5 */ {Code: bpfJeq, Jt: 10, K: unix.SYS_CLONE3},
		/* 6 */ {Code: bpfJeq, Jt: 8, K: unix.SYS_IO_URING_SETUP},
		/* 7 */ {Code: bpfJeq, Jt: 7, K: unix.SYS_IO_URING_ENTER},
		/* 8 */ {Code: bpfJeq, Jt: 6, K: unix.SYS_IO_URING_REGISTER},
		/* 9 */ {Code: bpfJeq, Jt: 2, K: unix.SYS_UNSHARE},
		/* 10 */ {Code: bpfJeq, Jt: 1, K: unix.SYS_CLONE},
		/* 11 */ {Code: bpfRet, K: retAllow},
		/* 12 */ {Code: bpfLdAbs, K: offArg0Low}, // flags of unshare and clone
		/* 13 */ {Code: bpfJset, Jt: 1, K: unix.CLONE_NEWUSER},
		/* 14 */ {Code: bpfRet, K: retAllow},
		/* 15 */ {Code: bpfRet, K: retEPERM},
		/* 16 */ {Code: bpfRet, K: retENOSYS},
	}
}

// installFilter applies the filter to the calling thread and what it execs.
// It needs no_new_privs.
func installFilter() error {
	arch := seccompArch()
	if arch == 0 {
		return nil
	}
	prog := instanceFilter(arch)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("install the seccomp filter: %w", err)
	}
	goruntime.KeepAlive(prog)
	return nil
}
