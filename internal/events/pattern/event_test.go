package pattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSpecialBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{'"', '\\', 0, 0x1f, 0x20, 0x21, 'a', 0x7f, 0x80, 0xff, '!', '#', '[', ']', 0x5b, 0x5d}
	for range 200000 {
		var b [8]byte
		for i := range b {
			if r.IntN(2) == 0 {
				b[i] = interesting[r.IntN(len(interesting))]
			} else {
				b[i] = byte(r.IntN(256))
			}
		}
		want := 8 // index of the first special byte, 8 for none
		for i, c := range b {
			if c == '"' || c == '\\' || c < 0x20 {
				want = i
				break
			}
		}
		got := 8
		if m := specialBytes(load64(string(b[:]), 0)); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("first special byte of %q: got %d, want %d", b, got, want)
		}
	}
}

// TestEventStringsAgreeWithEncodingJSON reads strings of every length around the 8-byte stride,
// with quotes, escapes and control characters at every offset, and checks that the flattener
// accepts exactly what encoding/json accepts and decodes it the same way.
func TestEventStringsAgreeWithEncodingJSON(t *testing.T) {
	m := New()
	if err := m.Add("r", []byte(`{"s":[{"exists":true}]}`)); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for n := 0; n <= 20; n++ {
		base := strings.Repeat("abc", n)[:n]
		texts = append(texts, base)
		for at := 0; at <= n; at++ {
			for _, ins := range []string{`\"`, `\\`, `\n`, `\u0041`, "\x01", "\t", `"`, `\`, `\x`, "\u00e9", `\ud83d\ude00`} {
				texts = append(texts, base[:at]+ins+base[at:])
			}
		}
	}
	for _, text := range texts {
		event := `{"s":"` + text + `","t":1}`
		var want struct{ S string }
		wantErr := json.Unmarshal([]byte(event), &want)
		ids, err := m.Match([]byte(event))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("event %q: matcher error %v, encoding/json error %v", event, err, wantErr)
		}
		if err == nil && len(ids) != 1 {
			t.Fatalf("event %q: got %v", event, ids)
		}
		if err == nil {
			m2 := New()
			p, _ := json.Marshal(map[string][]string{"s": {want.S}})
			if err := m2.Add("exact", p); err != nil {
				t.Fatal(err)
			}
			if ids, _ := m2.Match([]byte(event)); len(ids) != 1 {
				t.Fatalf("event %q: decoded text differs from encoding/json's %q", event, want.S)
			}
		}
	}
}

// TestDottedKeysAndEmptyKeys pins down how keys spell paths: a key with dots spans the same path
// as the nested objects it names, and a top-level "" key adds no segment.
func TestDottedKeysAndEmptyKeys(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"keys1", `{"a":{"b":["x"]}}`, `{"a.b":"x"}`, true},
		{"keys2", `{"a.b":["x"]}`, `{"a":{"b":"x"}}`, true},
		{"keys3", `{"a":{"b":{"c":["x"]}}}`, `{"a":{"b.c":"x"}}`, true},
		{"keys4", `{"a":{"b":{"c":["x"]}}}`, `{"a.b":{"c":"x"}}`, true},
		{"keys5", `{"a":{"b":["x"]}}`, `{"a.c":"x"}`, false},
		{"keys6", `{"x":["v"]}`, `{"":{"x":"v"}}`, true},
		{"keys7", `{".x":["v"]}`, `{"":{"x":"v"}}`, false},
		{"keys8", `{".x":["v"]}`, `{".x":"v"}`, true},
		{"keys9", `{"a":{"":["v"]}}`, `{"a":{"":"v"}}`, true},
		{"keys10", `{"a":{"":["v"]}}`, `{"a.":"v"}`, true},
	})
}

// TestManyFieldsUnderOnePath adds and deletes rules on hundreds of sibling fields, so the path
// trie's child tables grow, shrink and collide, and checks every field is still found.
func TestManyFieldsUnderOnePath(t *testing.T) {
	m := New()
	const n = 300
	for i := range n {
		if err := m.Add(fmt.Sprint("r", i), []byte(fmt.Sprintf(`{"detail":{"k%d":["v"]}}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(present func(int) bool) {
		t.Helper()
		for i := range n {
			ids, err := m.Match([]byte(fmt.Sprintf(`{"detail":{"other":1,"k%d":"v","x.y":2}}`, i)))
			if err != nil {
				t.Fatal(err)
			}
			if want := present(i); (len(ids) == 1) != want {
				t.Fatalf("field k%d: got %v, want match=%v", i, ids, want)
			}
		}
	}
	check(func(int) bool { return true })
	for i := 0; i < n; i += 2 {
		m.Delete(fmt.Sprint("r", i))
	}
	check(func(i int) bool { return i%2 == 1 })
}

// TestWhitespaceEverywhere matches one event written compactly, indented, and with whitespace
// around every token, and checks that broken punctuation is still refused in each spelling.
func TestWhitespaceEverywhere(t *testing.T) {
	m := New()
	for i, p := range []string{
		`{"source":["s"],"detail":{"n":[{"numeric":[">",1]}]}}`,
		`{"detail":{"items":{"k":["a"],"v":[2]}}}`,
		`{"detail":{"tags":["x"],"empty":[{"exists":true}]}}`,
	} {
		if err := m.Add(fmt.Sprint("r", i), []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	compact := `{"source":"s","detail":{"n":5,"items":[{"k":"a","v":1},{"k":"a","v":2}],"tags":["y","x"],"empty":{},"e2":[]}}`
	var indented bytes.Buffer
	if err := json.Indent(&indented, []byte(compact), "", " \t"); err != nil {
		t.Fatal(err)
	}
	spaced := spaceTokens(compact)
	for _, ev := range []string{compact, indented.String(), spaced, " \n" + compact + "\r\n "} {
		ids, err := m.Match([]byte(ev))
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"r0", "r1"}) {
			t.Errorf("event %q: got %v %v, want [r0 r1]", ev, ids, err)
		}
	}
	for _, bad := range []string{
		strings.Replace(spaced, ",", " ", 1), strings.Replace(spaced, ":", " ", 1),
		strings.Replace(compact, `"v":1}`, `"v":1 `, 1), strings.Replace(compact, `["y","x"]`, `["y" "x"]`, 1),
		spaced + " x",
	} {
		if _, err := m.Match([]byte(bad)); err == nil {
			t.Errorf("invalid event %q accepted", bad)
		}
	}
}

// spaceTokens puts whitespace around every structural character outside strings.
func spaceTokens(s string) string {
	var b strings.Builder
	in, esc := false, false
	for _, c := range s {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && strings.ContainsRune("{}[]:,", c):
			b.WriteString(" \n\t")
			b.WriteRune(c)
			b.WriteString("\r ")
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TestUnusedEscapedStringsAreValidatedNotDecoded: strings no rule looks at are checked but not
// decoded, so escapes there cost no allocation, and bad escapes there are still refused.
func TestUnusedEscapedStringsAreValidatedNotDecoded(t *testing.T) {
	m := New()
	if err := m.Add("r", []byte(`{"source":["nope"]}`)); err != nil {
		t.Fatal(err)
	}
	event := []byte(`{"source":"s","msg":"line\none \"quoted\" \u00e9\ud83d\ude00","detail":{"k\u0065y":"\t"}}`)
	allocs := testing.AllocsPerRun(100, func() {
		if ids, err := m.Match(event); err != nil || len(ids) != 0 {
			t.Fatalf("got %v %v", ids, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per match of an event with unused escaped strings, want 0", allocs)
	}
	for _, bad := range []string{`{"msg":"\x"}`, `{"msg":"\u12"}`, `{"a":{"\q":1}}`, `{"msg":"ab\`} {
		if _, err := m.Match([]byte(bad)); err == nil {
			t.Errorf("event %s with a bad escape accepted", bad)
		}
	}
}
