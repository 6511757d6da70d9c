package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Paths inside an isolated instance, as on Lambda.
const (
	TaskRoot   = "/var/task"    // the function's code, read-only
	RuntimeDir = "/var/runtime" // the runtime clients, read-only
	SDKDir     = "/var/runtime/sdk"
	TmpDir     = "/tmp" // private, sized to the function's ephemeral storage
)

// hostDirs are bound read-only at the same path in every instance's root: what
// programs need to run, and nothing of the platform's.
var hostDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// devices are bound from the host's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Bind is a host path shown read-only at Dst inside the instance.
type Bind struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// rootSpec describes an instance's private filesystem view.
type rootSpec struct {
	// Dir is an empty host directory the root is built on (it becomes a
	// tmpfs seen only inside the instance's mount namespace).
	Dir      string   `json:"dir"`
	TmpMB    int      `json:"tmpMB"`
	ShmMB    int      `json:"shmMB"`
	Binds    []Bind   `json:"binds"`
	HostDirs []string `json:"hostDirs"`
}

// build makes the root and pivots into it. It runs in the init step, as root,
// in the instance's new mount and pid namespaces.
func (r *rootSpec) build(uid, gid int) error {
	// Nothing mounted here may reach the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := r.Dir
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=0755"); err != nil {
		return fmt.Errorf("mount the root: %w", err)
	}
	for _, dir := range r.HostDirs {
		st, err := os.Lstat(dir)
		if err != nil {
			continue
		}
		if st.Mode()&os.ModeSymlink != 0 {
			// /bin -> usr/bin on merged-/usr systems: the same link.
			target, err := os.Readlink(dir)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, filepath.Join(root, dir)); err != nil {
				return err
			}
			continue
		}
		if err := bindRO(dir, filepath.Join(root, dir), true); err != nil {
			return err
		}
	}
	for _, b := range r.Binds {
		if err := bindRO(b.Src, filepath.Join(root, b.Dst), false); err != nil {
			return err
		}
	}

	// A fresh /proc shows only the instance's own processes.
	proc := filepath.Join(root, "proc")
	if err := os.Mkdir(proc, 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}

	// A minimal /dev, with a private /dev/shm.
	dev := filepath.Join(root, "dev")
	if err := os.Mkdir(dev, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "size=64k,mode=0755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, d := range devices {
		if _, err := os.Stat("/dev/" + d); err != nil {
			continue
		}
		dst := filepath.Join(dev, d)
		if err := os.WriteFile(dst, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	ids := ",uid=" + strconv.Itoa(uid) + ",gid=" + strconv.Itoa(gid)
	if err := mountTmpfs(filepath.Join(dev, "shm"), r.ShmMB, "mode=1777"+ids); err != nil {
		return err
	}

	// /tmp and /var/tmp: one private tmpfs of the function's ephemeral size.
	tmp := filepath.Join(root, TmpDir)
	if err := mountTmpfs(tmp, r.TmpMB, "mode=0700"+ids); err != nil {
		return err
	}
	varTmp := filepath.Join(root, "var/tmp")
	if err := os.MkdirAll(varTmp, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(tmp, varTmp, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /var/tmp: %w", err)
	}

	// Swap roots; the old one is detached, so nothing of the host stays
	// reachable but what was bound above.
	if err := os.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make the root read-only: %w", err)
	}
	return nil
}

func mountTmpfs(dir string, sizeMB int, opts string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+strconv.Itoa(sizeMB)+"m,"+opts); err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	return nil
}

// bindRO shows src read-only at dst. rec also brings the mounts below src
// (their own flags stay).
func bindRO(src, dst string, rec bool) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if st.IsDir() {
		err = os.MkdirAll(dst, 0o755)
	} else {
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			err = os.WriteFile(dst, nil, 0o644)
		}
	}
	if err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND)
	if rec {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(src, dst, "", flags, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	if err := unix.Mount("", dst, "", flags|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make %s read-only: %w", src, err)
	}
	return nil
}
