package functions

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
)

// archive/zip parses the whole central directory into memory before a
// caller can count the entries, and it checks the count the end record
// declares only modulo 65,536: a 250 MB zip of empty entries would take
// gigabytes. These helpers read the end record and walk the directory's
// fixed-size headers, allocating nothing per entry.

const (
	sigDirectoryEnd     = 0x06054b50
	sigDirectory64End   = 0x06064b50
	sigDirectory64Loc   = 0x07064b50
	sigDirectoryHeader  = 0x02014b50
	directoryEndLen     = 22
	directory64EndLen   = 56
	directory64LocLen   = 20
	directoryHeaderLen  = 46
	maxZipCommentLength = 65535
)

// zipDirectory is what the end records say about the central directory.
type zipDirectory struct {
	entries uint64 // as declared
	offset  int64  // as declared
	size    int64
	end     int64 // where the directory must end: the first end record
}

// checkEntryCount refuses a zip with more than limit entries. A zip whose
// end records cannot be read is left to archive/zip to judge.
func checkEntryCount(zipPath string, limit int) error {
	f, err := os.Open(zipPath)
	if err != nil {
		return nil // archive/zip reports it
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	d, ok := readDirectoryEnd(f, st.Size())
	if !ok {
		return nil
	}
	if d.entries > uint64(limit) {
		return badPackage("the zip has %d entries, over the limit of %d", d.entries, limit)
	}
	// The declared count may lie: count the headers where archive/zip will
	// read them (the declared offset, or just before the end records).
	for _, start := range []int64{d.offset, d.end - d.size} {
		if n, found := countDirectoryHeaders(f, start, limit); found {
			if n > limit {
				return badPackage("the zip holds more than %d entries", limit)
			}
			return nil
		}
	}
	return nil
}

// readDirectoryEnd finds the end of central directory record (and its zip64
// form when the fields overflow).
func readDirectoryEnd(f io.ReaderAt, size int64) (zipDirectory, bool) {
	tail := min(size, directoryEndLen+maxZipCommentLength)
	buf := make([]byte, tail)
	if _, err := f.ReadAt(buf, size-tail); err != nil {
		return zipDirectory{}, false
	}
	at := -1
	for i := len(buf) - directoryEndLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == sigDirectoryEnd {
			at = i
			break
		}
	}
	if at < 0 {
		return zipDirectory{}, false
	}
	rec := buf[at:]
	d := zipDirectory{
		entries: uint64(binary.LittleEndian.Uint16(rec[10:])),
		size:    int64(binary.LittleEndian.Uint32(rec[12:])),
		offset:  int64(binary.LittleEndian.Uint32(rec[16:])),
		end:     size - tail + int64(at),
	}
	if d.entries != 0xffff && d.size != 0xffffffff && d.offset != 0xffffffff {
		return d, true
	}
	locAt := d.end - directory64LocLen
	loc := make([]byte, directory64LocLen)
	if locAt < 0 {
		return zipDirectory{}, false
	}
	if _, err := f.ReadAt(loc, locAt); err != nil || binary.LittleEndian.Uint32(loc) != sigDirectory64Loc {
		return zipDirectory{}, false
	}
	recAt := int64(binary.LittleEndian.Uint64(loc[8:]))
	if recAt < 0 || recAt > locAt-directory64EndLen {
		return zipDirectory{}, false
	}
	rec64 := make([]byte, directory64EndLen)
	if _, err := f.ReadAt(rec64, recAt); err != nil || binary.LittleEndian.Uint32(rec64) != sigDirectory64End {
		return zipDirectory{}, false
	}
	d.entries = binary.LittleEndian.Uint64(rec64[32:])
	d.size = int64(binary.LittleEndian.Uint64(rec64[40:]))
	d.offset = int64(binary.LittleEndian.Uint64(rec64[48:]))
	d.end = recAt
	if d.size < 0 || d.offset < 0 {
		return zipDirectory{}, false
	}
	return d, true
}

// countDirectoryHeaders walks the central directory from start, up to
// limit+1 headers. found is false when no header starts there.
func countDirectoryHeaders(f io.ReaderAt, start int64, limit int) (n int, found bool) {
	if start < 0 {
		return 0, false
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, start, 1<<62), 64<<10)
	var hdr [directoryHeaderLen]byte
	for n <= limit {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		if binary.LittleEndian.Uint32(hdr[:]) != sigDirectoryHeader {
			break
		}
		n++
		skip := int(binary.LittleEndian.Uint16(hdr[28:])) + int(binary.LittleEndian.Uint16(hdr[30:])) + int(binary.LittleEndian.Uint16(hdr[32:]))
		if _, err := r.Discard(skip); err != nil {
			break
		}
	}
	return n, n > 0
}
