package lambda

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/functions"
)

// validPayload answers InvalidRequestContentException, as Lambda does,
// unless the payload is empty or JSON in valid UTF-8 (json.Valid alone
// lets invalid UTF-8 through, which decoders downstream would alter).
func validPayload(w http.ResponseWriter, payload []byte) bool {
	if len(payload) == 0 {
		return true
	}
	if !utf8.Valid(payload) {
		writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: the payload is not valid UTF-8")
		return false
	}
	if !json.Valid(payload) {
		writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: the payload is not valid JSON")
		return false
	}
	return true
}

// isARN reports whether a FunctionName is a full or partial ARN rather than
// a plain name.
func isARN(name string) bool {
	return strings.IndexByte(name, ':') >= 0 && strings.Contains(name, "function:")
}

// lookup resolves a FunctionName (name, partial or full ARN) and qualifier
// to a local function version (an alias's primary one).
func (a *API) lookup(name, qualifier string) (*functions.Function, error) {
	f, _, err := a.Invoker.Lookup(name, qualifier)
	return f, err
}
