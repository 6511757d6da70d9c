package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const plainName = "plain Go HTTP file server (transport limit)"

// plainServer serves PUT (write + fsync), DELETE and GET (http.ServeContent, which
// sends with sendfile) of files under dir with nothing else: no signature
// check, no hashing, no index. It shows what the clients and loopback TCP
// allow on this machine.
func plainServer(dir string) (string, func()) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		log.Fatal(err)
	}
	name := func(r *http.Request) string {
		return filepath.Join(dir, strings.ReplaceAll(strings.Trim(r.URL.Path, "/"), "/", "_"))
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			f, err := os.Create(name(r))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer f.Close()
			if _, err := io.Copy(f, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if err := f.Sync(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		case http.MethodDelete:
			_ = os.Remove(name(r))
			w.WriteHeader(http.StatusNoContent)
		case http.MethodGet:
			f, err := os.Open(name(r))
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			defer f.Close()
			http.ServeContent(w, r, "", time.Time{}, f)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }
}
