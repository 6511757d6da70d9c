package runtime

import (
	"slices"
	"testing"
)

func TestInstanceCPUs(t *testing.T) {
	for _, tc := range []struct{ memoryMB, host, want int }{
		{128, 64, 1},
		{1769, 64, 1},
		{1770, 64, 2},
		{4096, 64, 3},
		{10240, 64, 6},
		{10240, 2, 2},
		{4096, 0, 3}, // host unknown: no cap
		{0, 8, 1},
	} {
		if got := instanceCPUs(tc.memoryMB, tc.host); got != tc.want {
			t.Errorf("instanceCPUs(%d, %d) = %d, want %d", tc.memoryMB, tc.host, got, tc.want)
		}
	}
}

func TestCPUEnvPerRuntime(t *testing.T) {
	for _, tc := range []struct {
		runtime string
		own     map[string]string
		want    []string
	}{
		{"provided.al2023", nil, []string{"GOMAXPROCS=2"}},
		{"go1.x", nil, []string{"GOMAXPROCS=2"}},
		{"provided.al2", map[string]string{"GOMAXPROCS": "8"}, nil},
		{"python3.12", nil, []string{"PYTHON_CPU_COUNT=2"}},
		{"python3.12", map[string]string{"PYTHON_CPU_COUNT": "4"}, nil},
		{"nodejs20.x", nil, nil},
		{"java21", nil, nil},
	} {
		got := cpuEnv(&Spec{Runtime: tc.runtime, Environment: tc.own}, 2)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %v: %q, want %q", tc.runtime, tc.own, got, tc.want)
		}
	}
	if got := javaCPUFlags(&Spec{}, 3); !slices.Equal(got, []string{"-XX:ActiveProcessorCount=3"}) {
		t.Errorf("java flags %q", got)
	}
	own := &Spec{Environment: map[string]string{"JAVA_TOOL_OPTIONS": "-Xss1m -XX:ActiveProcessorCount=4"}}
	if got := javaCPUFlags(own, 3); got != nil {
		t.Errorf("java flags with the function's own count: %q", got)
	}
}
