package server

import (
	"regexp"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// TestPlatformSegment pins the plain comparison to the pattern it replaced.
func TestPlatformSegment(t *testing.T) {
	pattern := regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}|healthz|metrics|console|` + appspec.AccountID + `)$`)
	for _, s := range []string{
		"2015-03-31", "2018-06-01", "0000-00-00", "healthz", "metrics", appspec.AccountID,
		"", "2015-03-3", "2015-03-311", "2015/03/31", "2015-0a-31", "a015-03-31", "20150-3-31",
		"healthzz", "metric", "mybucket", "console", "consoles", appspec.AccountID + "0", "2015-03-31x", "-2015-03-31",
	} {
		if got, want := platformSegment(s), pattern.MatchString(s); got != want {
			t.Errorf("platformSegment(%q) = %v, want %v", s, got, want)
		}
	}
}
