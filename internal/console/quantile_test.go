package console

import "testing"

func TestQuantile(t *testing.T) {
	// Cumulative counts by upper bound (seconds), as Prometheus keeps them.
	buckets := []bucket{{0.001, 0}, {0.01, 50}, {0.1, 90}, {1, 100}}
	for _, c := range []struct {
		q    float64
		want float64 // ms
	}{
		{0.5, 10},   // the 50th of 100 is the last of the second bucket
		{0.25, 5.5}, // halfway into the second bucket: 1 ms + 9 ms * 25/50
		{0.9, 100},
		{0.99, 910}, // 0.1 s + 0.9 s * 9/10
	} {
		got := quantile(c.q, buckets, 100)
		if got == nil || *got != c.want {
			t.Errorf("quantile(%v) = %v, want %v ms", c.q, got, c.want)
		}
	}
	if got := quantile(0.5, buckets, 0); got != nil {
		t.Errorf("no observations: %v, want none", *got)
	}
	// Observations above the largest bound: the bound.
	if got := quantile(0.99, []bucket{{0.5, 0}, {1, 1}}, 10); got == nil || *got != 1000 {
		t.Errorf("above the largest bound: %v, want 1000 ms", got)
	}
}
