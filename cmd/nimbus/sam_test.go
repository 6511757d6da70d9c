package main

import (
	"maps"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/manifest"
)

func TestParameterOverrides(t *testing.T) {
	var opts manifest.Options
	p := &parameterOverrides{opts: &opts}
	for _, s := range []string{"Env=live Size=512", "ParameterKey=Name,ParameterValue=a=b", "Empty="} {
		if err := p.Set(s); err != nil {
			t.Fatalf("Set(%q): %v", s, err)
		}
	}
	want := map[string]string{"Env": "live", "Size": "512", "Name": "a=b", "Empty": ""}
	if !maps.Equal(opts.ParameterOverrides, want) {
		t.Errorf("overrides = %v, want %v", opts.ParameterOverrides, want)
	}
	for _, bad := range []string{"novalue", "=x", "ParameterKey=Name"} {
		if err := p.Set(bad); err == nil {
			t.Errorf("Set(%q) was accepted", bad)
		}
	}
}
