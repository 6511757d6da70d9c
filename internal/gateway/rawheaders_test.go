package gateway

import (
	"strings"
	"testing"
)

func TestHeaderScanner(t *testing.T) {
	type req struct {
		method string
		names  string // the recorded names, "a:b:"
	}
	cases := []struct {
		name   string
		stream string
		want   []req
		lost   bool // the scanner must give up (names fall back to canonical)
	}{
		{
			name:   "canonical names record nothing",
			stream: "GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nX-Api-Key: k\r\n\r\n",
			want:   []req{{"GET", ""}},
		},
		{
			name:   "non-canonical names in order",
			stream: "GET /a HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nX-API-KEY: k\r\nContent-type: a\r\nX-Fine: 1\r\n\r\n",
			want:   []req{{"GET", "host:x-api-key:X-API-KEY:Content-type:"}},
		},
		{
			name: "keep-alive with a Content-Length body that looks like headers",
			stream: "POST /a HTTP/1.1\r\nHost: x\r\ncontent-length: 25\r\n\r\n" +
				"fake-header: x\r\n\r\nGET / X" +
				"GET /b HTTP/1.1\r\nHost: x\r\nx-second: 1\r\n\r\n",
			want: []req{{"POST", "content-length:"}, {"GET", "x-second:"}},
		},
		{
			name: "chunked body with extensions and trailers",
			stream: "PUT /a HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n" +
				"5;ext=1\r\nab: c\r\n" + "A\r\n0123456789\r\n" + "0\r\nx-trailer: t\r\n\r\n" +
				"DELETE /b HTTP/1.1\r\nHost: x\r\nx-third: 1\r\n\r\n",
			want: []req{{"PUT", "transfer-encoding:"}, {"DELETE", "x-third:"}},
		},
		{
			name:   "bare LF line endings",
			stream: "GET /a HTTP/1.1\nhost: x\n\nGET /b HTTP/1.1\nHost: x\nx-b: 1\n\n",
			want:   []req{{"GET", "host:"}, {"GET", "x-b:"}},
		},
		{
			name:   "a name with bytes net/http leaves alone is not recorded",
			stream: "GET /a HTTP/1.1\r\nHost: x\r\nx\x01y: 1\r\n\r\n",
			want:   []req{{"GET", ""}},
		},
		{
			name:   "an unknown transfer coding loses track",
			stream: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			lost:   true,
		},
		{
			name:   "conflicting lengths lose track",
			stream: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
			lost:   true,
		},
		{
			name: "an obsolete line folding loses track",
			stream: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" +
				"22\r\nGET /b HTTP/1.1\r\nx-hidden: 1\r\n\r\n\r\n0\r\n\r\n",
			lost: true,
		},
		{
			name:   "a bad chunk size loses track",
			stream: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
			lost:   true,
		},
	}
	for _, tc := range cases {
		// The same stream, fed whole and in pieces of every small size.
		for _, piece := range []int{len(tc.stream), 1, 2, 3, 7, 64} {
			var s headerScanner
			s.startRequest()
			for i := 0; i < len(tc.stream); i += piece {
				s.feed([]byte(tc.stream[i:min(i+piece, len(tc.stream))]))
			}
			if tc.lost {
				if s.state != stLost {
					t.Errorf("%s (pieces of %d): still tracking, state %d", tc.name, piece, s.state)
				}
				if got := s.pop("POST", nil); len(got) != 0 {
					t.Errorf("%s (pieces of %d): a lost scanner gave names %q", tc.name, piece, got)
				}
				continue
			}
			for i, w := range tc.want {
				got := s.pop(w.method, nil)
				if string(got) != w.names || s.state == stLost {
					t.Errorf("%s (pieces of %d): request %d names %q (lost %v), want %q", tc.name, piece, i, got, s.state == stLost, w.names)
				}
			}
		}
	}
}

func TestHeaderScannerMethodMismatchFallsBack(t *testing.T) {
	var s headerScanner
	s.startRequest()
	s.feed([]byte("GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nx-b: 1\r\n\r\n"))
	if got := s.pop("POST", nil); len(got) != 0 {
		t.Fatalf("names %q for a request the scanner did not see", got)
	}
	if got := s.pop("GET", nil); len(got) != 0 {
		t.Fatalf("after losing track the scanner still gave %q", got)
	}
}

func TestHeaderScannerBoundsItsMemory(t *testing.T) {
	var s headerScanner
	s.startRequest()
	one := "GET / HTTP/1.1\r\nx-a: 1\r\n\r\n"
	s.feed([]byte(strings.Repeat(one, maxTrackedQueue+1)))
	if s.state != stLost || len(s.arena) != 0 || len(s.entries) != 0 {
		t.Fatalf("%d pipelined requests kept %d entries and %d bytes", maxTrackedQueue+1, len(s.entries), len(s.arena))
	}
}

func TestIsCanonicalName(t *testing.T) {
	for name, want := range map[string]bool{
		"Host": true, "X-Api-Key": true, "X-API-Key": false, "x-api-key": false, "Content-type": false,
		"Etag": true, "ETag": false, "X-Forwarded-For": true, "A": true, "a": false, "X_under": true, "x_under": false,
		"bad name": true, // net/http leaves names with invalid bytes as they are
	} {
		if got := isCanonicalName([]byte(name)); got != want {
			t.Errorf("isCanonicalName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRawName(t *testing.T) {
	names := []byte("x-api-key:HOST:content-TYPE:")
	for k, want := range map[string]string{"X-Api-Key": "x-api-key", "Host": "HOST", "Content-Type": "content-TYPE", "Accept": ""} {
		if got := string(rawName(names, k)); got != want {
			t.Errorf("rawName(%q) = %q, want %q", k, got, want)
		}
	}
}

func BenchmarkHeaderScanner(b *testing.B) {
	req := []byte("GET /dev/users/42?name=a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nx-api-key: 0123456789abcdef0123\r\ncontent-type: application/json\r\n\r\n")
	var s headerScanner
	s.startRequest()
	var dst []byte
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		s.feed(req)
		dst = s.pop("GET", dst[:0])
	}
}

// TestHeaderScannerMarksLengthWithChunked: a request with a Content-Length
// besides the chunked coding is marked, so that its connection closes after
// the answer (RFC 9112 6.3); a plain chunked one is not, and a lost scanner
// knows nothing.
func TestHeaderScannerMarksLengthWithChunked(t *testing.T) {
	var s headerScanner
	s.startRequest()
	s.feed([]byte("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	s.pop("POST", nil)
	if s.popped != poppedPlain {
		t.Errorf("plain chunked request: popped %d, want %d", s.popped, poppedPlain)
	}
	s.pop("POST", nil)
	if s.popped != poppedBoth {
		t.Errorf("length and chunked: popped %d, want %d", s.popped, poppedBoth)
	}
	s.pop("POST", nil) // nothing queued: the scanner gives up
	if s.popped != poppedUnknown {
		t.Errorf("lost: popped %d, want %d", s.popped, poppedUnknown)
	}
}
