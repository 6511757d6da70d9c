package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/events/pattern"
	"github.com/nimbus-platform/nimbus/internal/functions"
)

// Resource types the bus reads from an application's resources.
const (
	TypeEventBus = cfn.TypeEventBus
	TypeRule     = cfn.TypeRule
)

// declared is what one application declares.
type declared struct {
	buses []Bus
	rules []Rule
}

func shortName(s string) string {
	if len(s) <= 64 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:55] + "-" + hex.EncodeToString(sum[:4])
}

// declare derives the buses and rules of an application.
func (s *Service) declare(app *appspec.Application) (*declared, error) {
	d := &declared{}
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	fnARN := func(name string) string {
		return cfn.FunctionARN(app.Region, s.cfg.AccountID, name)
	}
	resources, err := app.ParsedResources()
	if err != nil {
		return nil, err
	}
	stack, err := cfn.NewStack(app, "")
	if err != nil {
		return nil, err
	}
	busNames := map[string]bool{}
	addBus := func(name, where string) {
		if name == DefaultBus || busNames[name] {
			return
		}
		if err := validateBusName(name); err != nil {
			add("%s: %v", where, err.(*Error).Message)
			return
		}
		busNames[name] = true
		d.buses = append(d.buses, Bus{Name: name, ManagedBy: app.Service, Region: app.Region})
	}
	// resolveBus reads an EventBusName / eventBus value: a name, an ARN, or
	// a reference to an event bus resource (whose Ref is its name).
	resolveBus := func(raw json.RawMessage, where string, create bool) string {
		if len(raw) == 0 {
			return DefaultBus
		}
		var plain string
		isPlain := json.Unmarshal(raw, &plain) == nil
		str, err := stack.String(raw)
		if err != nil {
			add("%s: %v", where, err)
			return ""
		}
		if strings.HasPrefix(str, "arn:") {
			return BusName(str)
		}
		if create && isPlain {
			addBus(str, where)
		}
		return str
	}
	// resolveTarget reads a target or dead-letter ARN value.
	resolveTarget := func(raw json.RawMessage, where string) string {
		arn, err := stack.String(raw)
		if err != nil {
			add("%s: %v", where, err)
			return ""
		}
		return arn
	}
	// inputOf turns a manifest input (object or JSON text) into Input text.
	inputOf := func(raw json.RawMessage, where string) string {
		if len(raw) == 0 || string(raw) == "null" {
			return ""
		}
		var str string
		if json.Unmarshal(raw, &str) == nil {
			if json.Valid([]byte(str)) {
				return str
			}
			return string(raw)
		}
		return string(raw)
	}
	transformerOf := func(raw json.RawMessage, where string, upper bool) *InputTransformer {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			add("%s: inputTransformer must be a map with inputPathsMap and inputTemplate", where)
			return nil
		}
		pk, tk := "inputPathsMap", "inputTemplate"
		if upper {
			pk, tk = "InputPathsMap", "InputTemplate"
		}
		tr := &InputTransformer{}
		if p, ok := m[pk]; ok {
			if err := json.Unmarshal(p, &tr.InputPathsMap); err != nil {
				add("%s: %s must map names to JSON paths", where, pk)
			}
		}
		if t, ok := m[tk]; ok {
			if err := json.Unmarshal(t, &tr.InputTemplate); err != nil {
				add("%s: %s must be a string", where, tk)
			}
		} else {
			add("%s: inputTransformer has no %s", where, tk)
		}
		return tr
	}
	str := func(raw json.RawMessage) string {
		var v string
		_ = json.Unmarshal(raw, &v)
		return v
	}
	enabledOf := func(raw json.RawMessage) string {
		if len(raw) == 0 {
			return StateEnabled
		}
		var b any
		_ = json.Unmarshal(raw, &b)
		if b == false || b == "false" {
			return StateDisabled
		}
		return StateEnabled
	}
	intOf := func(raw json.RawMessage, where string) *int {
		if len(raw) == 0 {
			return nil
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			var sv string
			if json.Unmarshal(raw, &sv) == nil {
				n = json.Number(sv)
			}
		}
		v, err := strconv.Atoi(n.String())
		if err != nil {
			add("%s must be an integer, not %s", where, raw)
			return nil
		}
		return &v
	}

	// Functions' events, then state machines' (serverless-step-functions),
	// whose target is the machine: the same rules with another target kind.
	type source struct {
		what, key, name, arn string
		events               []appspec.Event
	}
	var sources []source
	for _, f := range app.Functions {
		sources = append(sources, source{"function", f.Key, f.Name, fnARN(f.Name), f.Events})
	}
	machines, err := app.StateMachineEvents()
	if err != nil {
		add("%v", err)
	}
	for _, m := range machines {
		sources = append(sources, source{"state machine", m.Key, m.Name, m.ARN, m.Events})
	}
	for _, f := range sources {
		nSched, nRule := 0, 0
		machine := f.what == "state machine"
		for ei, ev := range f.events {
			where := fmt.Sprintf("%s %q event #%d (%s)", f.what, f.key, ei+1, ev.Type)
			switch ev.Type {
			case "schedule":
				var props map[string]json.RawMessage
				var rates []string
				var one string
				if json.Unmarshal(ev.Properties, &one) == nil {
					rates = []string{one}
				} else if err := json.Unmarshal(ev.Properties, &props); err != nil {
					add("%s: write a schedule expression or a map with rate", where)
					continue
				} else {
					r := props["rate"]
					if json.Unmarshal(r, &one) == nil {
						rates = []string{one}
					} else if json.Unmarshal(r, &rates) != nil || len(rates) == 0 {
						add("%s: rate must be an expression or a list of them", where)
						continue
					}
				}
				for _, rate := range rates {
					nSched++
					t := Target{ID: shortName(f.name + "-schedule"), Arn: f.arn}
					rule := Rule{Bus: DefaultBus, ScheduleExpression: rate, State: StateEnabled, ManagedBy: app.Service, Region: app.Region}
					rule.Name = shortName(fmt.Sprintf("%s-schedule-%d", f.name, nSched))
					if props != nil {
						if n := str(props["name"]); n != "" {
							rule.Name = n
							if len(rates) > 1 {
								rule.Name = shortName(fmt.Sprintf("%s-%d", n, nSched))
							}
						}
						rule.Description = str(props["description"])
						rule.State = enabledOf(props["enabled"])
						t.Input = inputOf(props["input"], where)
						t.InputPath = str(props["inputPath"])
						t.InputTransformer = transformerOf(props["inputTransformer"], where, false)
					}
					rule.Targets = []Target{t}
					d.rules = append(d.rules, rule)
				}
			case "eventBridge":
				var props map[string]json.RawMessage
				if err := json.Unmarshal(ev.Properties, &props); err != nil {
					add("%s: eventBridge must be a map (pattern, eventBus, input ...)", where)
					continue
				}
				nRule++
				rule := Rule{ManagedBy: app.Service, State: enabledOf(props["enabled"]), Region: app.Region}
				if machine {
					// serverless-step-functions spells them event and
					// eventBusName, and names a bus that exists.
					rule.Bus = resolveBus(props["eventBusName"], where+" eventBusName", false)
					props["pattern"] = props["event"]
				} else {
					rule.Bus = resolveBus(props["eventBus"], where+" eventBus", true)
				}
				rule.Name = str(props["name"])
				if rule.Name == "" {
					rule.Name = shortName(fmt.Sprintf("%s-rule-%d", f.name, nRule))
				}
				rule.Description = str(props["description"])
				if p := props["pattern"]; len(p) > 0 {
					rule.EventPattern = p
				}
				rule.ScheduleExpression = str(props["schedule"])
				t := Target{ID: shortName(f.name + "-target"), Arn: f.arn}
				t.Input = inputOf(props["input"], where)
				t.InputPath = str(props["inputPath"])
				t.InputTransformer = transformerOf(props["inputTransformer"], where, false)
				if rp := props["retryPolicy"]; len(rp) > 0 {
					var m map[string]json.RawMessage
					_ = json.Unmarshal(rp, &m)
					t.RetryPolicy = &RetryPolicy{
						MaximumRetryAttempts:     intOf(m["maximumRetryAttempts"], where+" retryPolicy.maximumRetryAttempts"),
						MaximumEventAgeInSeconds: intOf(m["maximumEventAge"], where+" retryPolicy.maximumEventAge"),
					}
				}
				if dl := props["deadLetterQueueArn"]; len(dl) > 0 {
					if arn := resolveTarget(dl, where+" deadLetterQueueArn"); arn != "" {
						t.DeadLetterConfig = &DeadLetterConfig{Arn: arn}
					}
				}
				rule.Targets = []Target{t}
				d.rules = append(d.rules, rule)
			}
		}
	}

	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := resources[id]
		where := fmt.Sprintf("resources %s (%s)", id, r.Type)
		switch r.Type {
		case TypeEventBus:
			name := str(r.Properties["Name"])
			if name == "" {
				add("%s: Name is required", where)
				continue
			}
			addBus(name, where)
		case TypeRule:
			p := r.Properties
			rule := Rule{ManagedBy: app.Service, Name: str(p["Name"]), Description: str(p["Description"]), State: str(p["State"]), Region: app.Region}
			if rule.Name == "" {
				rule.Name = shortName(app.Service + "-" + app.Stage + "-" + id)
			}
			rule.Bus = resolveBus(p["EventBusName"], where+" EventBusName", false)
			if ep := p["EventPattern"]; len(ep) > 0 {
				var text string
				if json.Unmarshal(ep, &text) == nil {
					rule.EventPattern = json.RawMessage(text)
				} else {
					rule.EventPattern = ep
				}
			}
			rule.ScheduleExpression = str(p["ScheduleExpression"])
			var targets []map[string]json.RawMessage
			if raw := p["Targets"]; len(raw) > 0 {
				if err := json.Unmarshal(raw, &targets); err != nil {
					add("%s: Targets must be a list of maps", where)
					continue
				}
			}
			for ti, tm := range targets {
				tw := fmt.Sprintf("%s Targets[%d]", where, ti)
				t := Target{ID: str(tm["Id"]), Arn: resolveTarget(tm["Arn"], tw+" Arn")}
				if in := tm["Input"]; len(in) > 0 {
					t.Input = inputOf(in, tw)
				}
				t.InputPath = str(tm["InputPath"])
				t.InputTransformer = transformerOf(tm["InputTransformer"], tw, true)
				if rp := tm["RetryPolicy"]; len(rp) > 0 {
					var m map[string]json.RawMessage
					_ = json.Unmarshal(rp, &m)
					t.RetryPolicy = &RetryPolicy{
						MaximumRetryAttempts:     intOf(m["MaximumRetryAttempts"], tw+" RetryPolicy.MaximumRetryAttempts"),
						MaximumEventAgeInSeconds: intOf(m["MaximumEventAgeInSeconds"], tw+" RetryPolicy.MaximumEventAgeInSeconds"),
					}
				}
				if dl := tm["DeadLetterConfig"]; len(dl) > 0 {
					var m map[string]json.RawMessage
					_ = json.Unmarshal(dl, &m)
					if a := m["Arn"]; len(a) > 0 {
						if arn := resolveTarget(a, tw+" DeadLetterConfig.Arn"); arn != "" {
							t.DeadLetterConfig = &DeadLetterConfig{Arn: arn}
						}
					}
				}
				rule.Targets = append(rule.Targets, t)
			}
			d.rules = append(d.rules, rule)
		}
	}
	// Check every rule and target as the API would.
	seen := map[string]bool{}
	for i := range d.rules {
		r := &d.rules[i]
		where := fmt.Sprintf("rule %q", r.Name)
		if err := validateRule(r); err != nil {
			add("%s: %s", where, err.(*Error).Message)
			continue
		}
		k := r.Bus + "/" + r.Name
		if seen[k] {
			add("%s is declared twice on event bus %s", where, r.Bus)
		}
		seen[k] = true
		if len(r.Targets) > MaxTargetsPerRule {
			add("%s has %d targets; at most %d are allowed", where, len(r.Targets), MaxTargetsPerRule)
		}
		tids := map[string]bool{}
		for ti := range r.Targets {
			t := &r.Targets[ti]
			if err := validateTarget(t); err != nil {
				add("%s: %s", where, err.(*Error).Message)
				continue
			}
			if tids[t.ID] {
				add("%s: target id %q is used twice", where, t.ID)
			}
			tids[t.ID] = true
			if err := s.checkTargetKind(t.Arn, "target"); err != nil {
				add("%s: %s", where, err.(*Error).Message)
			}
			if dl := t.DeadLetterConfig; dl != nil {
				if err := s.checkTargetKind(dl.Arn, "dead-letter queue"); err != nil {
					add("%s: %s", where, err.(*Error).Message)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return d, nil
}

// CheckDeploy refuses an application whose schedules, event rules or buses
// are invalid or collide with others' (a functions.DeployCheck).
func (s *Service) CheckDeploy(app *appspec.Application, others []appspec.Application) error {
	d, err := s.declare(app)
	if err != nil {
		return fmt.Errorf("event rules: %w", err)
	}
	busOwners := map[string]string{}
	ruleOwners := map[string]string{}
	for i := range others {
		od, err := s.declare(&others[i])
		if err != nil {
			continue
		}
		owner := others[i].Service + " (stage " + others[i].Stage + ")"
		for _, b := range od.buses {
			busOwners[b.Name] = owner
		}
		for _, r := range od.rules {
			ruleOwners[r.Bus+"/"+r.Name] = owner
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	declaredBus := map[string]bool{}
	for _, b := range d.buses {
		declaredBus[b.Name] = true
		if o := busOwners[b.Name]; o != "" {
			return fmt.Errorf("event bus %s is already declared by service %s", b.Name, o)
		}
		if bs := s.buses[b.Name]; bs != nil && bs.bus.ManagedBy == "" {
			return fmt.Errorf("event bus %s already exists (created through the API)", b.Name)
		}
	}
	for _, r := range d.rules {
		if o := ruleOwners[r.Bus+"/"+r.Name]; o != "" {
			return fmt.Errorf("rule %s on event bus %s is already declared by service %s", r.Name, r.Bus, o)
		}
		bs := s.buses[r.Bus]
		if bs == nil && !declaredBus[r.Bus] {
			if _, other := busOwners[r.Bus]; !other {
				return fmt.Errorf("rule %s: event bus %s does not exist", r.Name, r.Bus)
			}
		}
		if bs != nil {
			if old := bs.rules[r.Name]; old != nil && old.ManagedBy == "" {
				return fmt.Errorf("rule %s already exists on event bus %s (created through the API)", r.Name, r.Bus)
			}
		}
	}
	return nil
}

// syncManaged installs the buses and rules of the deployed services when they
// changed since the last call.
func (s *Service) syncManaged() {
	if s.cfg.Registry == nil {
		return
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	// Registries that count their changes let the common case cost one load.
	gen, counted := any(s.cfg.Registry).(interface{ Generation() uint64 })
	if counted && s.managedGen.Load() == gen.Generation()+1 {
		return
	}
	var current uint64
	if counted {
		current = gen.Generation()
	}
	defer func() {
		if counted {
			s.managedGen.Store(current + 1)
		}
	}()
	fns := s.cfg.Registry.List()
	var fp strings.Builder
	for _, f := range fns {
		fmt.Fprintf(&fp, "%s@%d;", f.App, f.LastModified.UnixNano())
	}
	// Every stage of every service: each declares its own buses and rules.
	apps := s.cfg.Registry.Services()
	for i := range apps {
		fmt.Fprintf(&fp, "%s;", apps[i].ID())
	}
	if fp.String() == s.managedFP {
		return
	}
	var buses []Bus
	var rules []Rule
	for i := range apps {
		app := &apps[i]
		d, err := s.declare(app)
		if err != nil {
			s.log.Error("event rules of a deployed service are invalid; they are not applied", "service", app.Service, "stage", app.Stage, "err", err)
			continue
		}
		buses = append(buses, d.buses...)
		rules = append(rules, d.rules...)
	}
	s.mu.Lock()
	s.managedFP = fp.String()
	wantBus := map[string]bool{}
	for _, b := range buses {
		wantBus[b.Name] = true
		if bs := s.buses[b.Name]; bs == nil {
			b.CreatedAt = time.Now().Unix()
			s.buses[b.Name] = &busState{bus: b, matcher: pattern.New(), rules: map[string]*Rule{}}
		} else if bs.bus.ManagedBy == "" {
			bs.bus.ManagedBy = b.ManagedBy
		}
	}
	wantRule := map[string]bool{}
	for i := range rules {
		r := rules[i]
		wantRule[r.Bus+"/"+r.Name] = true
		bs := s.buses[r.Bus]
		if bs == nil {
			s.log.Error("rule of a deployed service names a missing event bus; not applied", "rule", r.Name, "bus", r.Bus)
			continue
		}
		old := bs.rules[r.Name]
		if old != nil && old.ManagedBy == "" {
			continue // an API rule keeps its name
		}
		r.CreatedAt = time.Now().UnixMilli()
		if old != nil {
			if old.ScheduleExpression == r.ScheduleExpression {
				r.CreatedAt = old.CreatedAt
			}
			a, _ := json.Marshal(old)
			r2 := r
			r2.CreatedAt = old.CreatedAt
			b, _ := json.Marshal(&r2)
			if string(a) == string(b) {
				continue
			}
		}
		s.installRuleLocked(bs, &r)
	}
	for name, bs := range s.buses {
		for rn, r := range bs.rules {
			if r.ManagedBy != "" && !wantRule[name+"/"+rn] {
				s.removeRuleLocked(bs, r)
			}
		}
		if bs.bus.ManagedBy != "" && !wantBus[name] && len(bs.rules) == 0 {
			delete(s.buses, name)
		}
	}
	s.mu.Unlock()
	s.notifySchedules()
}

// Inventory lists the event buses, rules and schedules an application
// declares, for deploy summaries (a functions.Inventory).
func (s *Service) Inventory(app *appspec.Application) []functions.Item {
	d, err := s.declare(app)
	if err != nil {
		return nil
	}
	var out []functions.Item
	for _, b := range d.buses {
		out = append(out, functions.Item{Kind: "event bus", Name: b.Name, Digest: b.Name + "\x00" + b.Region})
	}
	for _, r := range d.rules {
		kind, name := "rule", r.Bus+"/"+r.Name
		if r.Bus == DefaultBus {
			name = r.Name
			if r.ScheduleExpression != "" && len(r.EventPattern) == 0 {
				kind = "schedule"
			}
		}
		r.CreatedAt = 0
		digest, _ := json.Marshal(r)
		out = append(out, functions.Item{Kind: kind, Name: name, Digest: string(digest)})
	}
	return out
}
