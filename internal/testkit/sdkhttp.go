package testkit

import (
	"io"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// HTTPClient is the HTTP client for the tests' AWS SDK clients (AWSConfig
// uses it). It works around a race between aws-sdk-go-v2 and net/http that
// a fast server on loopback exposes, and that is not the server's doing:
//
// After copying a request body of Content-Length bytes, net/http reads the
// body once more to check that nothing is left. A fast server can answer
// before that check runs; the SDK then closes the request body as soon as
// the response arrives, and the body's WriteTo (smithy-go's safe closer)
// answers io.EOF once closed, which net/http's check takes for a failed
// write: it closes the connection, and a call whose response is still
// being read fails with "use of closed network connection". Hiding WriteTo
// makes the check use Read, whose io.EOF after close is the normal end of a
// body.
//
// Users' SDK clients meet the same race (a few connections in a thousand
// on a loaded loopback, fewer calls); the SDK's default retryer retries it.
func HTTPClient() *http.Client {
	return &http.Client{Transport: readOnlyBodies{awshttp.NewBuildableClient().GetTransport()}}
}

// readOnlyBodies hides the io.WriterTo of request bodies.
type readOnlyBodies struct{ next http.RoundTripper }

func (t readOnlyBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, ok := r.Body.(io.WriterTo); ok {
		r = r.WithContext(r.Context()) // a RoundTripper must not change its argument
		r.Body = readCloser{r.Body}
	}
	return t.next.RoundTrip(r)
}

// readCloser has only the methods of io.ReadCloser.
type readCloser struct{ io.ReadCloser }
