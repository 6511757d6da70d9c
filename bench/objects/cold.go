package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropPages evicts the page cache of every file under dir
// (posix_fadvise DONTNEED), so the next read of them comes from the disk.
// Unlike writing to /proc/sys/vm/drop_caches it leaves the rest of the
// machine's cache alone. The files are fsync'd already (every PUT is), so
// their pages are clean and can all go.
func dropPages(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // files come and go while the index compacts
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
}

// residentBytes is how many bytes of the files under dir are in the page
// cache (mincore), to check that dropPages did its work.
func residentBytes(dir string) int64 {
	var total int64
	page := int64(os.Getpagesize())
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() == 0 {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		m, err := unix.Mmap(int(f.Fd()), 0, int(info.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil
		}
		defer unix.Munmap(m)
		vec := make([]byte, (info.Size()+page-1)/page)
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			return nil
		}
		for _, v := range vec {
			if v&1 != 0 {
				total += page
			}
		}
		return nil
	})
	return total
}

// directRead reads a file with O_DIRECT in block-sized reads, as
// dd iflag=direct does: the disk's own read speed, no page cache.
func directRead(path string, block int) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	raw := make([]byte, block+4096)
	off := 4096 - int(uintptr(unsafe.Pointer(&raw[0]))%4096) // O_DIRECT wants an aligned buffer
	buf := raw[off%4096 : off%4096+block]
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(k)
		if err == io.EOF || k == 0 {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("O_DIRECT read: %w", err)
		}
	}
}
