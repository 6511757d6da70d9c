package jsonproto

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\s", "<a href='x'>&</a>", "\x00\x1f\t\n\r\b\f", "é漢字", "\u2028\u2029", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

func TestErrorBodyAsEncodingJSON(t *testing.T) {
	for _, c := range []struct {
		typ, msg string
		omit     bool
	}{{"ValidationException", "bad <input>", false}, {"X", "", true}, {"X", "", false}} {
		m := map[string]string{"__type": c.typ}
		if c.msg != "" || !c.omit {
			m["message"] = c.msg
		}
		want, _ := json.Marshal(m)
		if got := ErrorBody(c.typ, c.msg, c.omit); !bytes.Equal(got, want) {
			t.Errorf("ErrorBody(%q, %q, %v) = %s, want %s", c.typ, c.msg, c.omit, got, want)
		}
	}
}

func TestAnswerWritesLengthAndChecksum(t *testing.T) {
	rec := httptest.NewRecorder()
	Answer{ContentType: JSON10, CRC32: true}.Write(rec, http.StatusOK, []byte(`{"a":1}`))
	h := rec.Result().Header
	if h.Get("Content-Length") != "7" || h.Get("X-Amz-Crc32") == "" || h.Get("Content-Type") != JSON10 || rec.Body.String() != `{"a":1}` {
		t.Fatalf("answer: %v %q", h, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	Answer{ContentType: JSON11, ErrorTypeHeader: true}.Error(rec, http.StatusBadRequest, "ResourceNotFoundException", "no")
	if rec.Code != 400 || rec.Result().Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" || rec.Body.String() != `{"__type":"ResourceNotFoundException","message":"no"}` {
		t.Fatalf("error: %d %v %q", rec.Code, rec.Result().Header, rec.Body.String())
	}
}

func TestDecoderRefusesWhatItDoesNotKnow(t *testing.T) {
	for _, in := range []string{`{"a":null}`, `{"a":"x"`, `{"a":"\u00e9"} x`, `{"a":1e3}`, `{"a":01}`, `{"a":truex}`} {
		d := NewDecoder([]byte(in))
		ok := d.Object(func(key []byte) bool {
			switch d.Peek() {
			case '"':
				_, ok := d.String()
				return ok
			case 't', 'f':
				_, ok := d.Bool()
				return ok
			default:
				_, ok := d.Int()
				return ok
			}
		}) && d.End()
		if ok {
			t.Errorf("%s: accepted", in)
		}
	}
	d := NewDecoder([]byte(` {"k\u00e9y" : "v\n\u00e9" , "n":-12, "b":false} `))
	got := map[string]any{}
	ok := d.Object(func(key []byte) bool {
		k := string(key)
		switch k {
		case "n":
			n, ok := d.Int()
			got[k] = n
			return ok
		case "b":
			b, ok := d.Bool()
			got[k] = b
			return ok
		}
		s, ok := d.String()
		got[k] = s
		return ok
	}) && d.End()
	if !ok || got["kéy"] != "v\né" || got["n"] != -12 || got["b"] != false {
		t.Fatalf("decoded %v, ok %v", got, ok)
	}
}

// TestPlainWord: the eight-byte test agrees with the byte-by-byte one for
// every byte value in every position.
func TestPlainWord(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	html := func(c byte) bool { return plain(c) && c != '<' && c != '>' && c != '&' }
	base := []byte("abcdefgh")
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			w := append([]byte(nil), base...)
			w[pos] = byte(c)
			if got := plainWord(word8(w, 0)); got != plain(byte(c)) {
				t.Errorf("plainWord with %#x at %d = %v", c, pos, got)
			}
			if got := plainHTMLWord(word8(string(w), 0)); got != html(byte(c)) {
				t.Errorf("plainHTMLWord with %#x at %d = %v", c, pos, got)
			}
		}
	}
}

// BenchmarkAppendString: a 1 KB plain attribute value, as the tables
// benchmark's items carry.
func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat("x", 1000)
	buf := make([]byte, 0, 2048)
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
}
