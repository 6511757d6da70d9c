package lambda

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
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

// lookup resolves a FunctionName (name, partial or full ARN) to a local
// function. An ARN of another partition, region or account names a
// function that is not here: ResourceNotFoundException, as Lambda answers.
func (a *API) lookup(name, qualifier string) (*functions.Function, error) {
	f, _, err := a.Invoker.Resolve(name, qualifier)
	if err != nil {
		return nil, err
	}
	if foreignARN(name, f) {
		return nil, &invoke.NotFoundError{Name: name, Qualifier: qualifier}
	}
	return f, nil
}

// foreignARN reports whether name is an ARN that does not belong to f:
// another partition, region or account.
func foreignARN(name string, f *functions.Function) bool {
	const marker = ":function:"
	i := strings.Index(f.ARN, marker)
	if i < 0 {
		return false
	}
	own := f.ARN[:i+len(marker)] // arn:aws:lambda:REGION:ACCOUNT:function:
	switch {
	case strings.HasPrefix(name, "arn:"):
		return !strings.HasPrefix(name, own)
	case strings.Contains(name, marker) || strings.HasPrefix(name, "function:"):
		// A partial ARN, ACCOUNT:function:NAME.
		return !strings.HasPrefix(name, accountOf(f.ARN)+marker)
	}
	return false
}
