package packaging

import "testing"

func TestExcludedMatchesEsbuildWildcards(t *testing.T) {
	for _, c := range []struct {
		exclude []string
		name    string
		want    bool
	}{
		{[]string{"@aws-sdk/*"}, "@aws-sdk/client-s3", true},
		{[]string{"@aws-sdk/*"}, "@aws-sdkx/client-s3", false},
		{[]string{"aws-sdk"}, "aws-sdk", true},
		{[]string{"aws-sdk"}, "aws-sdk-mock", false},
		{[]string{"*.node"}, "sharp.node", true},
		{nil, "left-pad", false},
	} {
		if got := excluded(c.exclude, c.name); got != c.want {
			t.Errorf("excluded(%q, %q) = %v, want %v", c.exclude, c.name, got, c.want)
		}
	}
}

func TestEsbuildTargets(t *testing.T) {
	target, engines, err := esTargets(nil, "nodejs20.x")
	if err != nil || target != 0 || len(engines) != 1 || engines[0].Version != "20" {
		t.Errorf("default target for nodejs20.x = %v %v %v, want node20", target, engines, err)
	}
	if _, _, err := esTargets([]byte(`["es2020", "node18.12"]`), "nodejs18.x"); err != nil {
		t.Errorf("es2020 + node18.12: %v", err)
	}
	if _, _, err := esTargets([]byte(`"chrome100"`), "nodejs18.x"); err == nil {
		t.Error("chrome100 was accepted for a Lambda function")
	}
}
