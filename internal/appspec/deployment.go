package appspec

import (
	"sort"
	"strings"
	"time"
)

// ShiftConfig is one of CodeDeploy's predefined Lambda deployment
// configurations: a canary moves Percent of the traffic, waits Interval,
// then moves the rest; a linear one moves Percent more every Interval.
type ShiftConfig struct {
	Kind     string // AllAtOnce, Canary or Linear
	Percent  int
	Interval time.Duration
}

// Shift kinds.
const (
	ShiftAllAtOnce = "AllAtOnce"
	ShiftCanary    = "Canary"
	ShiftLinear    = "Linear"
)

// shiftConfigs are CodeDeploy's predefined configurations for Lambda, by
// the names SAM's DeploymentPreference Type uses.
var shiftConfigs = map[string]ShiftConfig{
	"AllAtOnce":                     {Kind: ShiftAllAtOnce},
	"Canary10Percent5Minutes":       {Kind: ShiftCanary, Percent: 10, Interval: 5 * time.Minute},
	"Canary10Percent10Minutes":      {Kind: ShiftCanary, Percent: 10, Interval: 10 * time.Minute},
	"Canary10Percent15Minutes":      {Kind: ShiftCanary, Percent: 10, Interval: 15 * time.Minute},
	"Canary10Percent30Minutes":      {Kind: ShiftCanary, Percent: 10, Interval: 30 * time.Minute},
	"Linear10PercentEvery1Minute":   {Kind: ShiftLinear, Percent: 10, Interval: time.Minute},
	"Linear10PercentEvery2Minutes":  {Kind: ShiftLinear, Percent: 10, Interval: 2 * time.Minute},
	"Linear10PercentEvery3Minutes":  {Kind: ShiftLinear, Percent: 10, Interval: 3 * time.Minute},
	"Linear10PercentEvery10Minutes": {Kind: ShiftLinear, Percent: 10, Interval: 10 * time.Minute},
}

// LookupShift returns a predefined configuration by its SAM name or its
// CodeDeploy name (CodeDeployDefault.LambdaCanary10Percent5Minutes).
func LookupShift(name string) (ShiftConfig, bool) {
	if rest, ok := strings.CutPrefix(name, "CodeDeployDefault.Lambda"); ok {
		name = rest
	}
	c, ok := shiftConfigs[name]
	return c, ok
}

// ShiftNames lists the predefined configurations' names.
func ShiftNames() []string {
	out := make([]string, 0, len(shiftConfigs))
	for n := range shiftConfigs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Steps are the weights of the new version, in [0, 1], a shift goes
// through before the whole of the traffic moves: none for AllAtOnce, one
// for a canary, 0.1, 0.2 ... 0.9 for a linear shift of 10%.
func (c ShiftConfig) Steps() []float64 {
	switch c.Kind {
	case ShiftCanary:
		return []float64{float64(c.Percent) / 100}
	case ShiftLinear:
		var out []float64
		for p := c.Percent; p < 100; p += c.Percent {
			out = append(out, float64(p)/100)
		}
		return out
	}
	return nil
}
