package invoke

import (
	"errors"
	"testing"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		in, name, qualifier string
		wantErr             bool
	}{
		{in: "hello-dev-hello", name: "hello-dev-hello"},
		{in: "my_fn", name: "my_fn"},
		{in: "my-fn:$LATEST", name: "my-fn", qualifier: "$LATEST"},
		{in: "my-fn:prod", name: "my-fn", qualifier: "prod"},
		{in: "123456789012:function:my-fn", name: "my-fn"},
		{in: "123456789012:function:my-fn:7", name: "my-fn", qualifier: "7"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:my-fn", name: "my-fn"},
		{in: "arn:aws:lambda:eu-west-2:123456789012:function:my-fn:live", name: "my-fn", qualifier: "live"},
		{in: "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f", name: "f"},
		{in: "", wantErr: true},
		{in: "has space", wantErr: true},
		{in: "arn:aws:s3:::bucket", wantErr: true},
		{in: "a/b", wantErr: true},
		{in: "x:y:z", wantErr: true},
		{in: "a234567890123456789012345678901234567890123456789012345678901234567890", wantErr: true},
	}
	for _, tc := range tests {
		name, q, err := ParseName(tc.in)
		if tc.wantErr {
			var ipe *InvalidParameterError
			if !errors.As(err, &ipe) {
				t.Errorf("ParseName(%q) = %q, %q, %v; want InvalidParameterError", tc.in, name, q, err)
			}
			continue
		}
		if err != nil || name != tc.name || q != tc.qualifier {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q", tc.in, name, q, err, tc.name, tc.qualifier)
		}
	}
}

func BenchmarkParseNamePlain(b *testing.B) {
	for b.Loop() {
		_, _, _ = ParseName("hello-dev-hello")
	}
}

func TestForeignARN(t *testing.T) {
	const own = "arn:aws:lambda:us-east-1:000000000000:function:svc-dev-hello"
	for name, want := range map[string]bool{
		"svc-dev-hello": false,
		"arn:aws:lambda:us-east-1:000000000000:function:svc-dev-hello":      false,
		"arn:aws:lambda:us-east-1:000000000000:function:svc-dev-hello:live": false,
		"000000000000:function:svc-dev-hello":                               false,
		"arn:aws:lambda:eu-west-1:000000000000:function:svc-dev-hello":      true,
		"arn:aws:lambda:us-east-1:123456789012:function:svc-dev-hello":      true,
		"arn:aws-cn:lambda:us-east-1:000000000000:function:svc-dev-hello":   true,
		"123456789012:function:svc-dev-hello":                               true,
	} {
		if got := foreignARN(name, own); got != want {
			t.Errorf("foreignARN(%q) = %v, want %v", name, got, want)
		}
	}
}
