package main

import (
	"bufio"
	"strconv"
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
			status, body, closed, err := readAnswer(br, keep[:], nil)
			if err != nil || status != c.status || string(body) != c.body || closed != c.closed {
				t.Fatalf("got %d %q closed %v err %v; want %d %q closed %v", status, body, closed, err, c.status, c.body, c.closed)
			}
			if next, _ := br.Peek(4); !c.closed && string(next) != "HTTP" {
				t.Errorf("the next answer starts at %q", next)
			}
		})
	}
}

// TestReadAnswerChecksBody: a 200 framed by its length is checked in place
// for the bytes the request expects (a GetItem answer, its key).
func TestReadAnswerChecksBody(t *testing.T) {
	var keep [2048]byte
	body := `{"Item":{"pk":{"S":"lean-17"}}}`
	ok := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	br := bufio.NewReader(strings.NewReader(ok + ok))
	if _, _, _, err := readAnswer(br, keep[:], []byte(`"lean-17"`)); err != nil {
		t.Fatalf("answer with the key: %v", err)
	}
	if _, _, _, err := readAnswer(br, keep[:], []byte(`"lean-1"`)); err == nil {
		t.Fatal("an answer without the key was accepted")
	}
	if next, err := br.Peek(1); err == nil {
		t.Errorf("the answer was not consumed whole: %q follows", next)
	}
}
