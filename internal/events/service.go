// Package events is nimbus's event bus with EventBridge semantics: the default
// and custom buses, rules (event patterns or schedules) with up to five targets,
// PutEvents, and delivery to targets with Input, InputPath or InputTransformer,
// a retry policy, and a dead-letter queue.
//
// Durability: PutEvents stores each call's accepted events as one JetStream
// message (file storage, fsync'd) before it answers. A durable consumer matches
// them against the bus's rules (one automaton per bus, see package pattern)
// and delivers to the targets; a delivery that fails is stored in a retry
// subject and tried again with JetStream's NAK-with-delay until the target's
// RetryPolicy (attempts, maximum event age) runs out, then sent to the target's
// dead-letter queue with EventBridge's message attributes.
//
// Function targets are invoked through the shared invoke call. A function
// error or a throttle counts as a failed delivery attempt, retried under the
// rule's retry policy (EventBridge hands events to Lambda asynchronously, where
// Lambda's own retries apply; nimbus keeps one durable step per event batch
// instead of one per event and target, which is what lets the bus deliver
// thousands of events a second on an fsync-per-write store). A target naming a
// function that does not exist is not retried: it goes to the dead-letter
// queue at once.
//
// Rules come from the API (kept in a KV bucket) and from deployed services'
// manifests (serverless.yml `schedule` and `eventBridge` events, and
// AWS::Events::EventBus / AWS::Events::Rule resources), which are derived from
// the registry's services whenever they change, so a deploy applies them in the
// same step as the functions.
package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/events/pattern"
	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/schedule"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// Sink delivers a message to a queue or topic named by its ARN, with string
// message attributes.
type Sink func(ctx context.Context, arn string, body []byte, attrs map[string]string) error

// Config sets up the bus.
type Config struct {
	Store     *store.Store
	Invoker   *invoke.Service
	Registry  *functions.Registry
	Region    string // default us-east-1
	AccountID string // default 000000000000
	// Sinks deliver to other services' resources by ARN service ("sqs", "sns").
	// Without a sink, targets of that kind are refused at PutTargets.
	Sinks map[string]Sink
	// Workers is how many event batches (up to 10 events each) are delivered
	// at once (default 8: more only starts more instances on a small machine).
	Workers int
	// RetryDelay is the first retry's delay, doubled per attempt up to
	// RetryMaxDelay (defaults 1s and 3 minutes).
	RetryDelay    time.Duration
	RetryMaxDelay time.Duration
	// AckWait is how long a delivery in progress stays invisible to
	// redelivery after a crash (default 30s).
	AckWait time.Duration
	// Clock drives scheduled rules (default the wall clock).
	Clock  schedule.Clock
	Logger *slog.Logger
}

type busState struct {
	bus     Bus
	matcher *pattern.Matcher
	rules   map[string]*Rule
}

// Service is the event bus.
type Service struct {
	cfg   Config
	log   *slog.Logger
	kv    jetstream.KeyValue
	js    jetstream.JetStream
	sched *schedule.Scheduler

	mu    sync.RWMutex
	buses map[string]*busState
	// api holds what the API created, by KV key; managed what manifests declare.
	api        map[string]uint64 // applied KV revision per key
	managedFP  string
	managedGen atomic.Uint64 // registry generation + 1 last synced
	syncMu     sync.Mutex
	writes     sync.Mutex // one API change at a time
	wg         sync.WaitGroup
	syncNotify chan struct{}
}

const (
	kvBucket     = "nimbus_events"
	streamName   = "NIMBUS_EVENTS"
	subjectIn    = "nimbus.events.in"
	subjectRetry = "nimbus.events.retry"
)

// Open loads the buses and rules. Call Start to deliver.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.RetryMaxDelay <= 0 {
		cfg.RetryMaxDelay = 3 * time.Minute
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	kv, err := cfg.Store.KeyValue(ctx, kvBucket, 1)
	if err != nil {
		return nil, err
	}
	_, err = cfg.Store.Stream(ctx, jetstream.StreamConfig{
		Name:        streamName,
		Description: "nimbus event bus: accepted events and deliveries to retry",
		Subjects:    []string{"nimbus.events.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  10 * time.Minute, // scheduled ticks are published with a de-duplication id
	})
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger, kv: kv, js: cfg.Store.JS,
		buses:      map[string]*busState{},
		api:        map[string]uint64{},
		syncNotify: make(chan struct{}, 1),
	}
	s.buses[DefaultBus] = &busState{bus: Bus{Name: DefaultBus}, matcher: pattern.New(), rules: map[string]*Rule{}}
	s.sched, err = schedule.New(ctx, schedule.Config{Store: cfg.Store, Clock: cfg.Clock, Fire: s.fireSchedule, Logger: cfg.Logger.With("part", "schedule")})
	if err != nil {
		return nil, err
	}
	// Load what the API stored.
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list event bus state: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	sort.Strings(keys) // bus.* before rule.*
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		s.applyEntry(e)
	}
	s.syncManaged()
	return s, nil
}

// Region and AccountID name this bus's ARNs.
func (s *Service) Region() string    { return s.cfg.Region }
func (s *Service) AccountID() string { return s.cfg.AccountID }

func busKey(name string) string { return "bus." + base64.RawURLEncoding.EncodeToString([]byte(name)) }
func ruleKey(bus, name string) string {
	return "rule." + base64.RawURLEncoding.EncodeToString([]byte(bus)) + "." + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// applyEntry installs a stored bus or rule (or removes a deleted one).
func (s *Service) applyEntry(e jetstream.KeyValueEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev, ok := s.api[e.Key()]; ok && rev >= e.Revision() {
		return
	}
	s.api[e.Key()] = e.Revision()
	del := e.Operation() != jetstream.KeyValuePut
	switch {
	case strings.HasPrefix(e.Key(), "bus."):
		name, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(e.Key(), "bus."))
		if del {
			if b := s.buses[string(name)]; b != nil && b.bus.ManagedBy == "" && len(b.rules) == 0 {
				delete(s.buses, string(name))
			}
			return
		}
		var b Bus
		if json.Unmarshal(e.Value(), &b) != nil {
			return
		}
		if s.buses[b.Name] == nil {
			s.buses[b.Name] = &busState{bus: b, matcher: pattern.New(), rules: map[string]*Rule{}}
		}
	case strings.HasPrefix(e.Key(), "rule."):
		parts := strings.SplitN(strings.TrimPrefix(e.Key(), "rule."), ".", 2)
		if len(parts) != 2 {
			return
		}
		bus, _ := base64.RawURLEncoding.DecodeString(parts[0])
		name, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if del {
			if b := s.buses[string(bus)]; b != nil {
				if r := b.rules[string(name)]; r != nil && r.ManagedBy == "" {
					s.removeRuleLocked(b, r)
				}
			}
			return
		}
		var r Rule
		if json.Unmarshal(e.Value(), &r) != nil {
			return
		}
		b := s.buses[r.Bus]
		if b == nil {
			b = &busState{bus: Bus{Name: r.Bus}, matcher: pattern.New(), rules: map[string]*Rule{}}
			s.buses[r.Bus] = b
		}
		s.installRuleLocked(b, &r)
	}
	s.notifySchedules()
}

func (s *Service) installRuleLocked(b *busState, r *Rule) {
	if old := b.rules[r.Name]; old != nil {
		b.matcher.Delete(r.Name)
	}
	b.rules[r.Name] = r
	if len(r.EventPattern) > 0 && r.Enabled() {
		if err := b.matcher.Add(r.Name, r.EventPattern); err != nil {
			s.log.Error("stored rule has an invalid pattern; it matches nothing", "bus", r.Bus, "rule", r.Name, "err", err)
		}
	}
}

func (s *Service) removeRuleLocked(b *busState, r *Rule) {
	b.matcher.Delete(r.Name)
	delete(b.rules, r.Name)
}

// Start delivers events and fires schedules until ctx ends; it also follows
// changes other nodes make and the registry's deploys.
func (s *Service) Start(ctx context.Context) error {
	if err := s.startDelivery(ctx); err != nil {
		return err
	}
	w, err := s.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watch event bus state: %w", err)
	}
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					s.applyEntry(e)
				}
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.syncManaged()
			}
		}
	}()
	s.sched.Set(ctx, s.scheduleJobs())
	go func() {
		defer s.wg.Done()
		s.runSchedules(ctx)
	}()
	return nil
}

// Wait blocks until everything Start began has stopped.
func (s *Service) Wait() { s.wg.Wait() }

// --- buses -------------------------------------------------------------

// BusInfo describes a bus.
type BusInfo struct {
	Name, ARN, Description string
	CreatedAt              time.Time
}

func (s *Service) busInfo(b *Bus) BusInfo {
	return BusInfo{Name: b.Name, ARN: BusARN(s.regionOr(b.Region), s.cfg.AccountID, b.Name), Description: b.Description, CreatedAt: time.Unix(b.CreatedAt, 0)}
}

// CreateBus creates a custom bus.
func (s *Service) CreateBus(ctx context.Context, name, description string) (BusInfo, error) {
	if err := validateBusName(name); err != nil {
		return BusInfo{}, err
	}
	if name == DefaultBus {
		return BusInfo{}, errorf(CodeAlreadyExists, "Event bus default already exists.")
	}
	s.writes.Lock()
	defer s.writes.Unlock()
	s.mu.RLock()
	_, exists := s.buses[name]
	s.mu.RUnlock()
	if exists {
		return BusInfo{}, errorf(CodeAlreadyExists, "Event bus %s already exists.", name)
	}
	b := Bus{Name: name, Description: description, CreatedAt: time.Now().Unix()}
	if err := s.put(ctx, busKey(name), b); err != nil {
		return BusInfo{}, err
	}
	return s.busInfo(&b), nil
}

// DeleteBus deletes a custom bus that has no rules.
func (s *Service) DeleteBus(ctx context.Context, name string) error {
	name = BusName(name)
	if name == DefaultBus {
		return errorf(CodeValidation, "Cannot delete event bus default.")
	}
	s.writes.Lock()
	defer s.writes.Unlock()
	s.mu.RLock()
	b := s.buses[name]
	var nrules int
	if b != nil {
		nrules = len(b.rules)
	}
	s.mu.RUnlock()
	if b == nil {
		return nil // deleting a missing bus succeeds, as in EventBridge
	}
	if b.bus.ManagedBy != "" {
		return errorf(CodeManagedRule, "Event bus %s is declared by service %s; remove it from that manifest.", name, b.bus.ManagedBy)
	}
	if nrules > 0 {
		return errorf(CodeValidation, "Event bus %s still has %d rules; delete them first.", name, nrules)
	}
	return s.del(ctx, busKey(name))
}

// DescribeBus returns a bus.
func (s *Service) DescribeBus(name string) (BusInfo, error) {
	name = BusName(name)
	s.syncManaged()
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buses[name]
	if b == nil {
		return BusInfo{}, errorf(CodeNotFound, "Event bus %s does not exist.", name)
	}
	return s.busInfo(&b.bus), nil
}

// ListBuses returns the buses whose names start with prefix, sorted.
func (s *Service) ListBuses(prefix string) []BusInfo {
	s.syncManaged()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []BusInfo
	for n, b := range s.buses {
		if strings.HasPrefix(n, prefix) {
			out = append(out, s.busInfo(&b.bus))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// --- rules -------------------------------------------------------------

// RuleARN returns the ARN of a rule of this bus service.
func (s *Service) RuleARN(r *Rule) string {
	return RuleARN(s.regionOr(r.Region), s.cfg.AccountID, r.Bus, r.Name)
}

// regionOr is region, or the platform's when it is empty.
func (s *Service) regionOr(region string) string {
	if region == "" {
		return s.cfg.Region
	}
	return region
}

func (s *Service) put(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rev, err := s.kv.Put(ctx, key, data)
	if err != nil {
		return errorf(CodeInternal, "store: %v", err)
	}
	if e, err := s.kv.Get(ctx, key); err == nil && e.Revision() >= rev {
		s.applyEntry(e)
	}
	return nil
}

func (s *Service) del(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil {
		return errorf(CodeInternal, "store: %v", err)
	}
	// Apply the deletion locally at once (the watcher will see it too).
	lister, err := s.kv.History(ctx, key)
	if err == nil && len(lister) > 0 {
		s.applyEntry(lister[len(lister)-1])
	}
	return nil
}

// lookupRule finds a rule (a copy) on a bus.
func (s *Service) lookupRule(bus, name string) (*Rule, error) {
	s.syncManaged()
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buses[bus]
	if b == nil {
		return nil, errorf(CodeNotFound, "Event bus %s does not exist.", bus)
	}
	r := b.rules[name]
	if r == nil {
		return nil, errorf(CodeNotFound, "Rule %s does not exist on EventBus %s.", name, bus)
	}
	c := *r
	c.Targets = append([]Target(nil), r.Targets...)
	return &c, nil
}

// PutRule creates or updates a rule (its targets are kept) and returns its ARN.
func (s *Service) PutRule(ctx context.Context, r Rule) (string, error) {
	r.Bus = BusName(r.Bus)
	if err := validateRule(&r); err != nil {
		return "", err
	}
	s.writes.Lock()
	defer s.writes.Unlock()
	old, err := s.lookupRule(r.Bus, r.Name)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(e.Message, "Rule ") {
			return "", err
		}
		old = nil
	}
	if old != nil && old.ManagedBy != "" {
		return "", managedErr(old)
	}
	r.ManagedBy = ""
	r.CreatedAt = time.Now().UnixMilli()
	if old != nil {
		r.Targets = old.Targets
		if old.ScheduleExpression == r.ScheduleExpression {
			r.CreatedAt = old.CreatedAt
		}
	}
	if err := s.put(ctx, ruleKey(r.Bus, r.Name), r); err != nil {
		return "", err
	}
	return s.RuleARN(&r), nil
}

func managedErr(r *Rule) error {
	return errorf(CodeManagedRule, "Rule %s is declared by service %s; change it in that service's manifest and deploy.", r.Name, r.ManagedBy)
}

// DescribeRule returns a rule.
func (s *Service) DescribeRule(bus, name string) (*Rule, error) {
	return s.lookupRule(BusName(bus), name)
}

// SetRuleState enables or disables a rule.
func (s *Service) SetRuleState(ctx context.Context, bus, name, state string) error {
	s.writes.Lock()
	defer s.writes.Unlock()
	r, err := s.lookupRule(BusName(bus), name)
	if err != nil {
		return err
	}
	if r.ManagedBy != "" {
		return managedErr(r)
	}
	r.State = state
	return s.put(ctx, ruleKey(r.Bus, r.Name), r)
}

// DeleteRule deletes a rule that has no targets.
func (s *Service) DeleteRule(ctx context.Context, bus, name string, force bool) error {
	s.writes.Lock()
	defer s.writes.Unlock()
	r, err := s.lookupRule(BusName(bus), name)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && strings.HasPrefix(e.Message, "Rule ") {
			return nil // deleting a missing rule succeeds, as in EventBridge
		}
		return err
	}
	if r.ManagedBy != "" {
		return managedErr(r)
	}
	if len(r.Targets) > 0 && !force {
		return errorf(CodeValidation, "Rule can't be deleted since it has targets.")
	}
	return s.del(ctx, ruleKey(r.Bus, r.Name))
}

// ListRules returns the rules of a bus whose names start with prefix, sorted.
func (s *Service) ListRules(bus, prefix string) ([]*Rule, error) {
	bus = BusName(bus)
	s.syncManaged()
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.buses[bus]
	if b == nil {
		return nil, errorf(CodeNotFound, "Event bus %s does not exist.", bus)
	}
	var out []*Rule
	for n, r := range b.rules {
		if strings.HasPrefix(n, prefix) {
			c := *r
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListRuleNamesByTarget returns the rules of a bus that have a target with this ARN.
func (s *Service) ListRuleNamesByTarget(bus, arn string) ([]string, error) {
	rules, err := s.ListRules(bus, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rules {
		for _, t := range r.Targets {
			if t.Arn == arn {
				out = append(out, r.Name)
				break
			}
		}
	}
	return out, nil
}

// FailedTarget is a target PutTargets or RemoveTargets could not apply.
type FailedTarget struct{ ID, Code, Message string }

// PutTargets adds or replaces targets of a rule.
func (s *Service) PutTargets(ctx context.Context, bus, rule string, targets []Target) ([]FailedTarget, error) {
	if len(targets) == 0 || len(targets) > 10 {
		return nil, errorf(CodeValidation, "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	for i := range targets {
		if err := validateTarget(&targets[i]); err != nil {
			return nil, err
		}
		if err := s.checkTargetKind(targets[i].Arn, "target"); err != nil {
			return nil, err
		}
		if d := targets[i].DeadLetterConfig; d != nil && d.Arn != "" {
			if err := s.checkTargetKind(d.Arn, "dead-letter queue"); err != nil {
				return nil, err
			}
		}
	}
	s.writes.Lock()
	defer s.writes.Unlock()
	r, err := s.lookupRule(BusName(bus), rule)
	if err != nil {
		return nil, err
	}
	if r.ManagedBy != "" {
		return nil, managedErr(r)
	}
	merged := append([]Target(nil), r.Targets...)
	for _, t := range targets {
		replaced := false
		for i := range merged {
			if merged[i].ID == t.ID {
				merged[i] = t
				replaced = true
			}
		}
		if !replaced {
			merged = append(merged, t)
		}
	}
	if len(merged) > MaxTargetsPerRule {
		return nil, errorf(CodeLimitExceeded, "The requested resource exceeds the maximum number allowed: a rule has at most %d targets.", MaxTargetsPerRule)
	}
	r.Targets = merged
	if err := s.put(ctx, ruleKey(r.Bus, r.Name), r); err != nil {
		return nil, err
	}
	return nil, nil
}

// checkTargetKind refuses targets this node cannot deliver to.
func (s *Service) checkTargetKind(arn, what string) error {
	switch svc := arnService(arn); svc {
	case "lambda":
		if _, _, err := invoke.ParseName(arn); err != nil {
			return errorf(CodeValidation, "Parameter %s is not valid. Reason: Provided Arn is not in correct format.", arn)
		}
		return nil
	case "events":
		if what == "target" && strings.Contains(arn, ":event-bus/") {
			return nil
		}
	case "sqs", "sns", "states":
		if svc == "states" && (what != "target" || !strings.Contains(arn, ":stateMachine:")) {
			break
		}
		if s.cfg.Sinks[svc] != nil {
			return nil
		}
		return errorf(CodeValidation, "%s %s: %s targets are not supported by nimbus yet.", what, arn, strings.ToUpper(svc))
	}
	return errorf(CodeValidation, "%s %s: only Lambda functions, event buses, SQS queues, SNS topics and state machines are supported.", what, arn)
}

// RemoveTargets removes targets from a rule.
func (s *Service) RemoveTargets(ctx context.Context, bus, rule string, ids []string) ([]FailedTarget, error) {
	s.writes.Lock()
	defer s.writes.Unlock()
	r, err := s.lookupRule(BusName(bus), rule)
	if err != nil {
		return nil, err
	}
	if r.ManagedBy != "" {
		return nil, managedErr(r)
	}
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	var kept []Target
	for _, t := range r.Targets {
		if !drop[t.ID] {
			kept = append(kept, t)
		}
	}
	r.Targets = kept
	return nil, s.put(ctx, ruleKey(r.Bus, r.Name), r)
}

// TestEventPattern reports whether event matches pattern.
func TestEventPattern(patternJSON, event []byte) (bool, error) {
	if err := pattern.Validate(patternJSON); err != nil {
		return false, errorf(CodeInvalidEventPattern, "Event pattern is not valid. Reason: %v", err)
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(event, &ev); err != nil {
		return false, errorf(CodeValidation, "Parameter Event is not valid: %v", err)
	}
	// The fields AWS documents as mandatory for TestEventPattern's event.
	for _, k := range []string{"id", "account", "source", "time", "region", "resources", "detail-type"} {
		if _, ok := ev[k]; !ok {
			return false, errorf(CodeValidation, "Parameter Event is not valid: the event has no %q field.", k)
		}
	}
	ok, err := pattern.MatchOne(patternJSON, event)
	if err != nil {
		return false, errorf(CodeValidation, "Parameter Event is not valid: %v", err)
	}
	return ok, nil
}
