package console_test

import (
	"net/http"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/console"
)

// A page on the gateway (same host, other port) can set a cookie of the
// console's name with a longer path; the browser then sends it before the
// real one. The console read only the first: the operator was signed out
// and stayed out, since signing in again did not remove the tossed cookie.
func TestTossedCookieDoesNotLockTheOperatorOut(t *testing.T) {
	p, _ := start(t)
	b := newBrowser(t, p)
	if a := b.login(console.LoginRequest{Token: link(t, p)}); a.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", a.status, a.body)
	}
	real := b.cookie
	b.cookie = nil
	tossed := func(r *http.Request) {
		r.Header.Set("Cookie", real.Name+"=tossed-by-a-gateway-page; "+real.Name+"="+real.Value)
	}
	if a := b.do(http.MethodGet, "/console/api/functions", "", nil, tossed); a.status != http.StatusOK {
		t.Fatalf("with a tossed cookie before the session's: %d %s", a.status, a.body)
	}
	// The tossed cookie with the session's token, alone, still unlocks nothing.
	if a := b.do(http.MethodGet, "/console/api/functions", "", nil, func(r *http.Request) {
		r.Header.Set("Cookie", real.Name+"=tossed-by-a-gateway-page")
	}); a.status != http.StatusUnauthorized {
		t.Fatalf("the tossed cookie alone: %d %s", a.status, a.body)
	}
	// Sign-out ends the session the token names, whichever cookie came first.
	if a := b.do(http.MethodPost, "/console/api/logout", "application/json", []byte(`{}`), tossed); a.status != http.StatusOK {
		t.Fatalf("sign-out: %d %s", a.status, a.body)
	}
	if a := b.do(http.MethodGet, "/console/api/functions", "", nil, tossed); a.status != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %d %s", a.status, a.body)
	}
}
