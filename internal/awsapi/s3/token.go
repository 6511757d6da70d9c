package s3

import "encoding/base64"

// A continuation token is the last key of the page, opaque to clients as
// S3's are; the listing resumes strictly after it.
func encodeToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("1:" + last))
}

func decodeToken(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || string(b[:2]) != "1:" {
		return "", false
	}
	return string(b[2:]), true
}
