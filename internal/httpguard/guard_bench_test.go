package httpguard

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
)

// The guard's cost per request on a keep-alive connection: a 100-byte POST
// through real loopback HTTP, with and without the guard.
func BenchmarkRequest(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	})
	payload := bytes.Repeat([]byte("x"), 100)
	run := func(b *testing.B, guarded bool) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: handler}
		var serveLn net.Listener = ln
		if guarded {
			g, err := New(ln, Config{})
			if err != nil {
				b.Fatal(err)
			}
			srv, serveLn = g.Server(handler), g.Listener()
		}
		go func() { _ = srv.Serve(serveLn) }()
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{}}
		url := "http://" + ln.Addr().String() + "/x"
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, false) })
	b.Run("guarded", func(b *testing.B) { run(b, true) })
}
