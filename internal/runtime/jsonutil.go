package runtime

import (
	"bytes"
	"encoding/json"
)

// jsonStringField returns a top-level string field of a JSON object, or "".
func jsonStringField(body []byte, field string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(obj[field], &s) != nil {
		return ""
	}
	return s
}

func looksLikeJSONObject(body []byte) bool {
	body = bytes.TrimSpace(body)
	return len(body) > 0 && body[0] == '{' && json.Valid(body)
}
