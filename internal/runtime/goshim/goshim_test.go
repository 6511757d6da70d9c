package goshim

import "testing"

func TestBeforeRuntimeAPI(t *testing.T) {
	for v, want := range map[string]bool{
		"v1.17.0":                               true,
		"v1.6.0":                                true,
		"v0.9.0":                                true,
		"v1.17.1-0.20200601000000-abcdefabcdef": true,
		"v1.18.0":                               false,
		"v1.55.1":                               false,
		"v2.0.0":                                false,
		"(devel)":                               false,
		"":                                      false,
	} {
		if got := beforeRuntimeAPI(v); got != want {
			t.Errorf("beforeRuntimeAPI(%q) = %v, want %v", v, got, want)
		}
	}
}
