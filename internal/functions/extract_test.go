package functions

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type entry struct {
	name, body string
	mode       os.FileMode
}

func link(name, target string) entry {
	return entry{name: name, body: target, mode: os.ModeSymlink | 0o777}
}

func zipBytes(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		if strings.HasSuffix(e.name, "/") {
			mode = os.ModeDir | 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeZip(t *testing.T, entries []entry) string {
	t.Helper()
	return saveZip(t, zipBytes(t, entries))
}

func saveZip(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "code.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtract(t *testing.T) {
	zp := writeZip(t, []entry{
		{name: "./"},
		{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		{name: "lib/"},
		{name: "lib/a.js", body: "x"},
		{name: "lib/"}, // a repeated directory is harmless
		{name: "node_modules/pkg/bin/cli.js", body: "cli"},
		link("node_modules/.bin/cli", "../pkg/bin/cli.js"),
		link("link", "lib/a.js"),
		link("libdir", "lib"),
		link("chain", "libdir/../link"), // through another link, still inside
		link("dangling", "not/there"),
		{name: "empty"},
	})
	dir := filepath.Join(t.TempDir(), "out")
	if err := extract(zp, dir, defaultExtractLimits()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "bootstrap"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("bootstrap: %v %v", st, err)
	}
	for name, want := range map[string]string{"link": "x", "chain": "x", "node_modules/.bin/cli": "cli", "libdir/a.js": "x", "empty": ""} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", name, b, err, want)
		}
	}
	// A second extraction of the same package is a no-op.
	if err := extract(zp, dir, defaultExtractLimits()); err != nil {
		t.Fatal(err)
	}
}

// climb is the escape of issue 8: a link that resolves inside (a/b -> ..),
// and a link that climbs through it: lexically inside, really outside.
func climb(levels int, target string) []entry {
	return []entry{
		{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		link("a/b", ".."),
		link("e", strings.Repeat("a/b/", levels)+strings.Repeat("../", levels)+target),
	}
}

// nestedClimb is the same with links created through links (a/b/a/b ...).
func nestedClimb(levels int, target string) []entry {
	entries := []entry{{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755}}
	for i := range levels {
		entries = append(entries, link(strings.Repeat("a/b/", i)+"a/b", ".."))
	}
	return append(entries, link("e", strings.Repeat("a/b/", levels)+strings.Repeat("../", levels)+target))
}

func TestExtractRefusesBadPackages(t *testing.T) {
	zeros := string(make([]byte, 4<<20))
	many := make([]entry, 0, 12)
	for i := range 6 {
		many = append(many, entry{name: strings.Repeat("d", i+1) + "/"}, entry{name: strings.Repeat("f", i+1)})
	}
	tests := []struct {
		name    string
		entries []entry
		limits  func(*extractLimits)
		want    string
	}{
		{"zip slip", []entry{{name: "../escape.txt", body: "x"}}, nil, `"../escape.txt" points outside`},
		{"dot-dot inside a name", []entry{{name: "a/../../b", body: "x"}}, nil, "points outside"},
		{"dot-dot that stays inside", []entry{{name: "a/../b", body: "x"}}, nil, "points outside"},
		{"absolute name", []entry{{name: "/etc/cron.d/x", body: "x"}}, nil, "absolute name"},
		{"drive letter", []entry{{name: "C:\\x", body: "x"}}, nil, "absolute name"},
		{"absolute symlink", []entry{link("l", "/etc/passwd")}, nil, "absolute target"},
		{"escaping symlink", []entry{link("a/l", "../../x")}, nil, `symlink "a/l" points outside`},
		{"escape through another link", []entry{link("a/b", ".."), link("c", "a/b/../x")}, nil, `symlink "c" points outside`},
		{"chained climb", climb(12, "etc"), nil, `symlink "e" points outside`},
		{"chained climb and a file through it", append(climb(12, "tmp"), entry{name: "e/PWNED", body: "x"}), nil, `"e/PWNED" lies under "e"`},
		{"links made through links", nestedClimb(12, "tmp"), nil, `"a/b/a/b" lies under "a/b"`},
		{"file through an inside link", []entry{{name: "sub/"}, link("l", "sub"), {name: "l/x", body: "x"}}, nil, `"l/x" lies under "l"`},
		{"file under a file", []entry{{name: "f", body: "x"}, {name: "f/x", body: "y"}}, nil, `lies under "f"`},
		{"link loop", []entry{link("x", "y"), link("y", "x")}, nil, "too many levels"},
		{"duplicate file", []entry{{name: "a", body: "1"}, {name: "a", body: "2"}}, nil, "appears twice"},
		{"file and directory of one name", []entry{{name: "a/"}, {name: "a", body: "2"}}, nil, "appears twice"},
		{"duplicate after cleaning", []entry{{name: "a/b", body: "1"}, {name: "a//./b", body: "2"}}, nil, "appears twice"},
		{"too many entries", many, func(l *extractLimits) { l.Entries = 11 }, "12 entries, over the limit of 11"},
		{"too large", []entry{{name: "big", body: string(make([]byte, 2048))}}, func(l *extractLimits) { l.Bytes = 1024 }, "over the 1024 bytes limit"},
		{"bomb", []entry{{name: "zeros", body: zeros}}, nil, "zip bomb"},
		{"device", []entry{{name: "dev", mode: os.ModeDevice | 0o644}}, nil, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := defaultExtractLimits()
			if tc.limits != nil {
				tc.limits(&lim)
			}
			assertRefused(t, writeZip(t, tc.entries), lim, tc.want)
		})
	}
	if err := extract(filepath.Join(t.TempDir(), "missing.zip"), filepath.Join(t.TempDir(), "o"), defaultExtractLimits()); !errors.Is(err, ErrBadPackage) {
		t.Fatalf("missing zip: %v", err)
	}
}

func assertRefused(t *testing.T, zp string, lim extractLimits, want string) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	err := extract(zp, dir, lim)
	if !errors.Is(err, ErrBadPackage) || !strings.Contains(err.Error(), want) {
		t.Fatalf("extract = %v, want ErrBadPackage with %q", err, want)
	}
	left, _ := os.ReadDir(parent)
	if len(left) != 0 {
		t.Fatalf("a refused package left %v behind", left[0].Name())
	}
}

// TestExtractRefusesOverlappingEntries builds the kind of bomb where many
// central directory records point at one compressed stream.
func TestExtractRefusesOverlappingEntries(t *testing.T) {
	data := zipBytes(t, []entry{{name: "a", body: strings.Repeat("payload ", 1000)}})
	eocd := bytes.LastIndex(data, []byte{0x50, 0x4b, 0x05, 0x06})
	cdSize := int(binary.LittleEndian.Uint32(data[eocd+12:]))
	cdStart := int(binary.LittleEndian.Uint32(data[eocd+16:]))
	record := append([]byte(nil), data[cdStart:cdStart+cdSize]...)
	twin := append([]byte(nil), record...)
	nameAt := 46
	twin[nameAt] = 'b' // same local header, another name
	var out []byte
	out = append(out, data[:cdStart]...)
	out = append(out, record...)
	out = append(out, twin...)
	end := append([]byte(nil), data[eocd:]...)
	binary.LittleEndian.PutUint16(end[8:], 2)
	binary.LittleEndian.PutUint16(end[10:], 2)
	binary.LittleEndian.PutUint32(end[12:], uint32(2*cdSize))
	out = append(out, end...)
	assertRefused(t, saveZip(t, out), defaultExtractLimits(), "share compressed data")
}

// TestExtractRefusesManyEntriesFast: a 200,000-entry zip is refused by the
// count its directory declares, before the directory is parsed.
func TestExtractRefusesManyEntriesFast(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 200_000 {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: "d" + strings.Repeat("x", i%7) + "/" + string(rune('a'+i%26)) + "/" + itoa(i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zp := saveZip(t, buf.Bytes())
	f, err := os.Open(zp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if d, ok := readDirectoryEnd(f, int64(buf.Len())); !ok || d.entries != 200_000 {
		t.Fatalf("readDirectoryEnd = %+v, %v", d, ok)
	}
	start := time.Now()
	assertRefused(t, zp, defaultExtractLimits(), "200000 entries, over the limit of 100000")
	t.Logf("200,000-entry zip (%d bytes) refused in %v", buf.Len(), time.Since(start))
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

// TestExtractIgnoresUmask: function users must be able to read the code
// whatever umask the platform runs with.
func TestExtractIgnoresUmask(t *testing.T) {
	zp := writeZip(t, []entry{{name: "bootstrap", body: "x", mode: 0o755}, {name: "lib/a.js", body: "y"}})
	dir := filepath.Join(t.TempDir(), "out")
	old := setUmask(0o077)
	err := extract(zp, dir, defaultExtractLimits())
	setUmask(old)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"bootstrap": 0o755, "lib": 0o755, "lib/a.js": 0o644, ".": 0o755} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", name, st.Mode().Perm(), err, want)
		}
	}
}

func setUmask(mask int) int { return syscall.Umask(mask) }

// TestExtractCountsEntriesWhenTheCountLies: archive/zip checks the declared
// count only modulo 65,536, so a zip declaring 2 entries may hold 65,538;
// they are counted before archive/zip parses them.
func TestExtractCountsEntriesWhenTheCountLies(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 65_538 {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: itoa(i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// More than 65,535 entries: the writer used zip64 records. Make both
	// declare 2 entries.
	rec := bytes.LastIndex(data, []byte{0x50, 0x4b, 0x06, 0x06})
	binary.LittleEndian.PutUint64(data[rec+24:], 2)
	binary.LittleEndian.PutUint64(data[rec+32:], 2)
	zp := saveZip(t, data)
	if zr, err := zip.OpenReader(zp); err != nil || len(zr.File) != 65_538 {
		t.Fatalf("archive/zip should accept the lie (so the check matters): %v", err)
	} else {
		zr.Close()
	}
	lim := defaultExtractLimits()
	lim.Entries = 1000
	assertRefused(t, zp, lim, "holds more than 1000 entries")
}
