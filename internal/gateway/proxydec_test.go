package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// proxySeeds are proxy responses functions send, and the corners of
// encoding/json's reading that the direct decoder must answer alike.
var proxySeeds = []string{
	`{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"message\":\"hello\",\"items\":[1,2,3],\"ok\":true}"}`,
	`{"statusCode":"201","headers":{"X-A":"1","x-b":2,"x-c":true,"x-d":null},"body":"plain"}`,
	`{"statusCode":200,"multiValueHeaders":{"Set-Cookie":["a=1","b=2"],"x-n":[1,null,false]},"headers":{"Set-Cookie":"c=3","X-Other":"o"}}`,
	`{"statusCode":200,"multiValueHeaders":{"x-empty":null},"headers":{"x-empty":"v"}}`,
	`{"statusCode":200,"multiValueHeaders":{"content-type":null}}`,
	`{"statusCode":200,"isBase64Encoded":true,"body":"aGVsbG8="}`,
	`{"statusCode":200,"isBase64Encoded":true,"body":"aGVs\nbG8="}`,
	`{"statusCode":200,"isBase64Encoded":true,"body":"aGVs\\nbG8="}`,
	`{"statusCode":200,"isBase64Encoded":true,"body":"not base64!"}`,
	`{"statusCode":200,"isBase64Encoded":"true","body":"x"}`,
	`{"statusCode":200,"isBase64Encoded":null,"body":"x"}`,
	`{"statusCode":200,"isBase64Encoded":true,"isBase64Encoded":false,"body":"x"}`,
	`{"statusCode":200,"cookies":["a=1; Path=/","b=2",null]}`,
	`{"statusCode":200,"cookies":["a=1"],"cookies":null}`,
	`{"statusCode":200,"cookies":[1]}`,
	`{"statusCode":200,"cookies":"a=1"}`,
	`{"statusCode":200,"headers":{"a":"1"},"headers":{"b":"2"}}`,
	`{"statusCode":200,"headers":{"a":"1"},"headers":null,"headers":{"b":"2"}}`,
	`{"statusCode":200,"headers":{"a":"1","a":"2"}}`,
	`{"statusCode":200,"headers":"x"}`,
	`{"statusCode":200,"headers":[]}`,
	`{"statusCode":200,"headers":{"a":{"b":1}}}`,
	`{"statusCode":200,"headers":{"a":[1]}}`,
	`{"statusCode":200,"multiValueHeaders":{"a":"x"}}`,
	`{"statusCode":200,"multiValueHeaders":{"a":[{}]}}`,
	`{"statusCode":200,"multiValueHeaders":[]}`,
	`{"STATUSCODE":404,"Body":"nope","HEADERS":{"x":"y"}}`,
	`{"ſtatusCode":200,"body":"long s folds to s"}`,
	`{"\u0073tatusCode":200,"b\u006fdy":"escaped names"}`,
	`{"statusCode":null}`,
	`{"statusCode":200.0}`,
	`{"statusCode":"+200"}`,
	`{"statusCode":99}`,
	`{"statusCode":600}`,
	`{"statusCode":200,"body":5}`,
	`{"statusCode":200,"body":null}`,
	`{"statusCode":200,"body":"\ud83d\ude00 \ud800 \udc00x \u00e9 \"q\" \\ \/ \b\f\n\r\t"}`,
	"{\"statusCode\":200,\"body\":\"bad utf-8: \xff\xfe end\"}",
	"{\"statusCode\":200,\"headers\":{\"x-\xff\":\"\xc3\"}}",
	`{"statusCode":200,"body":"x"} `,
	` {"statusCode":200}`,
	`{"statusCode":200}x`,
	`{"statusCode":200,}`,
	`{"statusCode":200 "body":"x"}`,
	`{"statusCode":200,"other":[1,2,{"a":[true,false,null,-0.5e+3,"s"]}]}`,
	`{"statusCode":200,"other":01}`,
	`{"statusCode":200,"other":1.}`,
	`{"statusCode":200,"other":-}`,
	`{"statusCode":200,"other":"\x"}`,
	`{"statusCode":200,"other":"\u12"}`,
	"{\"statusCode\":200,\"other\":\"tab\tinside\"}",
	`{"statusCode":200,"headers":{"Content-Length":"5","Transfer-Encoding":{"bad":1}}}`,
	`{"body":"no status"}`,
	`{}`,
	`{"message":"hello"}`,
	`"a plain string"`,
	`"esc\"aped"`,
	`[1,2,3]`,
	`42`,
	`null`,
	`true`,
	``,
	`   `,
	`{`,
	`{"a":`,
	`not json`,
	"\u00a0{\"statusCode\":200}",
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

// canonicalCollision says whether two names of the same map in the payload
// share a canonical header name: encoding/json's map then leaves the winner
// to map iteration order, so only the error outcome is compared.
func canonicalCollision(payload []byte, v1 bool) bool {
	var pr proxyResponseJSON
	if json.Unmarshal(bytes.TrimSpace(payload), &pr) != nil {
		return false
	}
	seen := map[string]bool{}
	for k := range pr.Headers {
		if ck := http.CanonicalHeaderKey(k); seen[ck] {
			return true
		} else {
			seen[ck] = true
		}
	}
	if !v1 {
		return false
	}
	seen = map[string]bool{}
	for k := range pr.MultiValueHeaders {
		if ck := http.CanonicalHeaderKey(k); seen[ck] {
			return true
		} else {
			seen[ck] = true
		}
	}
	return false
}

func checkProxyDecoder(t *testing.T, payload []byte, v1 bool, f *proxyFields, buf *[]byte) {
	t.Helper()
	h1 := http.Header{"X-Amzn-Requestid": {"id"}}
	want, werr := mapResponseJSON(payload, v1, h1)
	h2 := http.Header{"X-Amzn-Requestid": {"id"}}
	got, gerr := mapResponse(payload, v1, h2, f, buf)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("v1=%v %q: encoding/json says %v, the decoder %v", v1, payload, werr, gerr)
	}
	if werr != nil {
		if errors.Is(werr, errMalformed) != errors.Is(gerr, errMalformed) {
			t.Fatalf("v1=%v %q: errors %v and %v", v1, payload, werr, gerr)
		}
		return
	}
	if got.status != want.status || !bytes.Equal(got.body, want.body) {
		t.Fatalf("v1=%v %q: got %d %q, want %d %q", v1, payload, got.status, got.body, want.status, want.body)
	}
	if canonicalCollision(payload, v1) {
		return
	}
	if !reflect.DeepEqual(h2, h1) {
		t.Fatalf("v1=%v %q: headers\n got %#v\nwant %#v", v1, payload, h2, h1)
	}
}

func TestProxyDecoderSeeds(t *testing.T) {
	var f proxyFields
	var buf []byte
	for _, s := range proxySeeds {
		for _, v1 := range []bool{true, false} {
			checkProxyDecoder(t, []byte(s), v1, &f, &buf)
			f.reset()
		}
	}
}

func TestProxyDecoderValid(t *testing.T) {
	for _, s := range proxySeeds {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.80q) = %v, json.Valid says %v", s, got, want)
		}
	}
}

// FuzzProxyDecoder compares the direct decoder with encoding/json: run it
// with go test -fuzz=FuzzProxyDecoder ./internal/gateway.
func FuzzProxyDecoder(f *testing.F) {
	for _, s := range proxySeeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	var pf proxyFields
	var buf []byte
	f.Fuzz(func(t *testing.T, payload []byte, v1 bool) {
		if got, want := validJSON(payload), json.Valid(payload); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", payload, got, want)
		}
		checkProxyDecoder(t, payload, v1, &pf, &buf)
		pf.reset()
	})
}

func BenchmarkMapResponse(b *testing.B) {
	payload := []byte(`{"statusCode":200,"headers":{"content-type":"application/json","x-request":"abc"},"body":"{\"message\":\"hello\",\"items\":[1,2,3],\"ok\":true}"}`)
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mapResponseJSON(payload, false, http.Header{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		var f proxyFields
		var buf []byte
		for b.Loop() {
			if _, err := mapResponse(payload, false, http.Header{}, &f, &buf); err != nil {
				b.Fatal(err)
			}
			f.reset()
		}
	})
}
