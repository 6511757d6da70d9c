package runtimes

import _ "embed"

// WSGIHandler is the serverless-wsgi adapter nimbus places in the package of
// a function whose handler is wsgi_handler.handler (see wsgi/wsgi_handler.py).
//
//go:embed wsgi/wsgi_handler.py
var WSGIHandler []byte
