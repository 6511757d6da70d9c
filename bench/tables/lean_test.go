package main

import (
	"bufio"
	"strings"
	"testing"
)

// TestReadAnswer: the lean reader's framing of the answers the three
// servers give: by length on a kept connection, by length then closed, by
// chunks, and to the connection's end.
func TestReadAnswer(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		status    int
		body      string
		closed    bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, "", false},
		{"close", "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}", 200, "", true},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, "", true},
		{"error", "HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\n\r\n{\"x\":\"y\"}", 400, `{"x":"y"}`, false},
		{"chunked", "HTTP/1.1 500 Internal\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 500, "abcde", false},
		{"to the end", "HTTP/1.1 503 Busy\r\n\r\nlater", 503, "later", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := c.raw
			if !c.closed {
				raw += "HTTP/1.1 200 OK\r\n" // the next answer on the connection
			}
			br := bufio.NewReader(strings.NewReader(raw))
			var keep [2048]byte
			status, body, closed, err := readAnswer(br, keep[:])
			if err != nil || status != c.status || string(body) != c.body || closed != c.closed {
				t.Fatalf("got %d %q closed %v err %v; want %d %q closed %v", status, body, closed, err, c.status, c.body, c.closed)
			}
			if next, _ := br.Peek(4); !c.closed && string(next) != "HTTP" {
				t.Errorf("the next answer starts at %q", next)
			}
		})
	}
}
