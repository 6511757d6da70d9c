package sandbox

import (
	"fmt"
	goruntime "runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A function needs no user namespace of its own (with it, every capability
// inside, and mounts) nor io_uring: both are kernel surface behind many local
// privilege escalations, and Lambda refuses both. Of the netlink families it
// needs only NETLINK_ROUTE, which C libraries read to list interfaces
// (getifaddrs); the others (socket diagnostics, uevents, audit, netfilter,
// xfrm, the generic families) are kernel surface it has no use for. The
// filter refuses these and lets everything else through; it is checked on
// every system call, so it stays a few instructions long.

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
	offArg2Low = 32 // args[2], low 32 bits
)

// seccompArch is the audit architecture of this build, 0 where the filter is
// not written for it.
func seccompArch() uint32 { return seccompArchOf(goruntime.GOARCH) }

func seccompArchOf(goarch string) uint32 {
	switch goarch {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// filterSupport says why instances of a build for goarch get no system call
// filter, nil when they get one.
func filterSupport(goarch string) error {
	if seccompArchOf(goarch) != 0 {
		return nil
	}
	return fmt.Errorf("no system call filter is written for %s: functions may make user namespaces, use io_uring and open any netlink family", goarch)
}

// instanceFilter is the program: calls of another architecture (32-bit
// entry points, x32) and clone3 (whose flags sit in memory a filter cannot
// read; C libraries fall back to clone) get ENOSYS; io_uring, unshare or
// clone asking for a user namespace, and netlink sockets other than
// NETLINK_ROUTE get EPERM. Jumps only go forward: the common path is the
// chain of call numbers down to the first allow.
func instanceFilter(arch uint32) []unix.SockFilter {
	return []unix.SockFilter{
		/* 0 */ {Code: bpfLdAbs, K: offArch},
		/* 1 */ {Code: bpfJeq, Jt: 1, K: arch},
		/* 2 */ {Code: bpfRet, K: retENOSYS},
		/* 3 */ {Code: bpfLdAbs, K: offNr},
		/* 4 */ {Code: bpfJge, Jt: 16, K: 0x40000000}, // x32
		/* 5 */ {Code: bpfJeq, Jt: 15, K: unix.SYS_CLONE3},
		/* 6 */ {Code: bpfJeq, Jt: 13, K: unix.SYS_IO_URING_SETUP},
		/* 7 */ {Code: bpfJeq, Jt: 12, K: unix.SYS_IO_URING_ENTER},
		/* 8 */ {Code: bpfJeq, Jt: 11, K: unix.SYS_IO_URING_REGISTER},
		/* 9 */ {Code: bpfJeq, Jt: 5, K: unix.SYS_SOCKET},
		/* 10 */ {Code: bpfJeq, Jt: 2, K: unix.SYS_UNSHARE},
		/* 11 */ {Code: bpfJeq, Jt: 1, K: unix.SYS_CLONE},
		/* 12 */ {Code: bpfRet, K: retAllow},
		/* 13 */ {Code: bpfLdAbs, K: offArg0Low}, // flags of unshare and clone
		/* 14 */ {Code: bpfJset, Jt: 5, Jf: 4, K: unix.CLONE_NEWUSER},
		/* 15 */ {Code: bpfLdAbs, K: offArg0Low}, // socket's domain
		/* 16 */ {Code: bpfJeq, Jf: 2, K: unix.AF_NETLINK},
		/* 17 */ {Code: bpfLdAbs, K: offArg2Low}, // socket's protocol
		/* 18 */ {Code: bpfJeq, Jf: 1, K: unix.NETLINK_ROUTE},
		/* 19 */ {Code: bpfRet, K: retAllow},
		/* 20 */ {Code: bpfRet, K: retEPERM},
		/* 21 */ {Code: bpfRet, K: retENOSYS},
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
