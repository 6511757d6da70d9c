package auth

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// The allocation-free HMAC and comparison agree with crypto/hmac's.
func TestHMACSumMatchesCryptoHMAC(t *testing.T) {
	key := SigningKey("secret", "20260101", "us-east-1", "dynamodb")
	for _, data := range []string{"", "x", strings.Repeat("a", 960), strings.Repeat("b", 961), strings.Repeat("c", 5000)} {
		got := hmacSum(key, []byte(data))
		if want := hmacSHA256(key, data); !bytes.Equal(got[:], want) {
			t.Fatalf("len %d: %x, want %x", len(data), got, want)
		}
		sig := hex.EncodeToString(got[:])
		upper := strings.ToUpper(sig)
		if !signatureMatchesBytes(key, []byte(data), sig) || signatureMatchesBytes(key, []byte(data), upper) != signatureMatches(key, data, upper) {
			t.Fatalf("len %d: signature not matched", len(data))
		}
		if signatureMatchesBytes(key, []byte(data+"!"), sig) || signatureMatchesBytes(key, []byte(data), sig[:63]+"g") {
			t.Fatalf("len %d: wrong signature matched", len(data))
		}
	}
	long := bytes.Repeat([]byte{7}, 100)
	if got, want := hmacSum(long, []byte("d")), hmacSHA256(long, "d"); !bytes.Equal(got[:], want) {
		t.Fatal("long key")
	}
	if n := testing.AllocsPerRun(100, func() { hmacSum(key, []byte("AWS4-HMAC-SHA256\n20260101T000000Z\n")) }); n != 0 {
		t.Errorf("hmacSum allocates %v times", n)
	}
}
