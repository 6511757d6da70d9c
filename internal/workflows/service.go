package workflows

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// Buckets and the stream the service keeps its state in.
const (
	machinesBucket   = "workflow-machines"
	executionsBucket = "workflow-executions"
	historyStream    = "WORKFLOW_HISTORY"
	historySubject   = "workflows.history."
	// MaxHistoryEvents bounds one execution's history, as AWS does.
	MaxHistoryEvents = 25000
	// DefaultRetention is how long ended executions are kept, as on AWS.
	DefaultRetention = 90 * 24 * time.Hour
	// DefaultMaxTasks bounds the tasks (Lambda invocations) that executions
	// run at once on a node.
	DefaultMaxTasks = 256
)

// State machine types.
const (
	TypeStandard = "STANDARD"
	TypeExpress  = "EXPRESS"
)

// StatusRunning is a started execution that has not ended.
const StatusRunning = "RUNNING"

// Kinds of service error; the API edge maps them to AWS's codes.
type Kind int

// Service error kinds.
const (
	KindInvalid Kind = iota + 1
	KindInvalidName
	KindInvalidArn
	KindInvalidDefinition
	KindMachineNotFound
	KindMachineExists
	KindExecutionNotFound
	KindExecutionExists
	KindResourceNotFound
	KindInvalidToken
	KindTaskTimedOut
	KindInvalidOutput
)

// Error is a typed service error.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(k Kind, format string, a ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...)}
}

// StateMachine is a stored state machine.
type StateMachine struct {
	ARN        string            `json:"arn"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Definition string            `json:"definition"`
	RoleARN    string            `json:"roleArn"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated,omitzero"`
	RevisionID string            `json:"revisionId"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// Execution is a stored execution.
type Execution struct {
	ARN              string    `json:"arn"`
	Name             string    `json:"name"`
	StateMachineARN  string    `json:"stateMachineArn"`
	StateMachineName string    `json:"stateMachineName"`
	Definition       string    `json:"definition"` // the machine's definition when started
	RoleARN          string    `json:"roleArn,omitempty"`
	Status           string    `json:"status"`
	Input            string    `json:"input"`
	Output           string    `json:"output,omitempty"`
	Error            string    `json:"error,omitempty"`
	Cause            string    `json:"cause,omitempty"`
	HasError         bool      `json:"hasError,omitempty"`
	Start            time.Time `json:"start"`
	Stop             time.Time `json:"stop,omitzero"`
	// Ordinal numbers the execution among its machine's (listing.go); 0
	// for one stored by an earlier version.
	Ordinal uint64 `json:"ordinal,omitempty"`
	// Checkpoint is where a RUNNING execution resumes after a restart.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// Config configures a Service.
type Config struct {
	Store     *store.Store
	Tasks     TaskRunner
	Region    string
	AccountID string
	MaxTasks  int
	Logger    *slog.Logger
	// Node names this node in the execution leases; the same across its
	// restarts, so a node restarted after a crash takes its own executions
	// back at once. Default: a random name.
	Node string
	// LeaseTTL is how long a node's hold on an execution lasts without
	// renewal (default DefaultLeaseTTL); other nodes resume an execution
	// whose lease has expired.
	LeaseTTL time.Duration
	// MaxHistoryEvents fails an execution whose history would grow past it
	// (default MaxHistoryEvents, AWS's limit).
	MaxHistoryEvents int
	// Retention is how long an ended execution's record is kept (default
	// DefaultRetention, AWS's 90 days); its history expires with it.
	Retention time.Duration
}

// Service keeps state machines and runs their executions durably.
type Service struct {
	cfg      Config
	st       *store.Store
	machines jetstream.KeyValue
	execs    jetstream.KeyValue
	history  jetstream.Stream
	engine   *Engine
	leases   jetstream.KeyValue // execution key → owning node, expiring
	index    jetstream.KeyValue // execution key of every RUNNING execution
	tokens   jetstream.KeyValue // task tokens of callback tasks (callback.go)
	listing  jetstream.KeyValue // executions by machine, numbered (listing.go)
	rolesKV  jetstream.KeyValue // declared role statements by machine (roles.go)
	// api is the platform's AWS API that service integrations call
	// (integrations.go), set once by SetAPI.
	api         http.Handler
	apiOnce     sync.Once
	apiReady    chan struct{}
	impliedRole auth.Policy
	// activities and their pending tasks (activities.go)
	activities    jetstream.KeyValue
	activityTasks jetstream.Stream
	slots         chan struct{}
	log           *slog.Logger
	node          string
	subs          []*nats.Subscription

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	running map[string]*runner // by execution key

	// afterIndex, when set (tests), runs between a start's index entry and
	// its record.
	afterIndex func()
}

// Open opens the service's buckets and resumes every RUNNING execution.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.MaxTasks <= 0 {
		cfg.MaxTasks = DefaultMaxTasks
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.MaxHistoryEvents <= 0 {
		cfg.MaxHistoryEvents = MaxHistoryEvents
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Node == "" {
		cfg.Node = newID()
	}
	s := &Service{cfg: cfg, st: cfg.Store, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxTasks),
		node: cfg.Node, running: map[string]*runner{}, apiReady: make(chan struct{}), impliedRole: impliedRolePolicy()}
	var err error
	if s.machines, err = cfg.Store.KeyValue(ctx, machinesBucket, 1); err != nil {
		return nil, err
	}
	if s.execs, err = cfg.Store.KeyValue(ctx, executionsBucket, 1); err != nil {
		return nil, err
	}
	if s.index, err = cfg.Store.KeyValue(ctx, runningBucket, 1); err != nil {
		return nil, err
	}
	if s.tokens, err = cfg.Store.KeyValue(ctx, tokensBucket, 1); err != nil {
		return nil, err
	}
	if s.listing, err = cfg.Store.KeyValue(ctx, listingBucket, 1); err != nil {
		return nil, err
	}
	if s.rolesKV, err = cfg.Store.KeyValue(ctx, rolesBucket, 1); err != nil {
		return nil, err
	}
	if err := s.openActivities(ctx); err != nil {
		return nil, err
	}
	if s.leases, err = cfg.Store.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: leaseBucket, Storage: jetstream.FileStorage, Replicas: max(cfg.Store.Replicas(), 1), TTL: cfg.LeaseTTL,
	}); err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", leaseBucket, err)
	}
	// The history limit is enforced by the runner, which fails the
	// execution as AWS does; the stream keeps every event it is given.
	s.history, err = cfg.Store.Stream(ctx, jetstream.StreamConfig{
		Name:              historyStream,
		Subjects:          []string{historySubject + ">"},
		MaxMsgsPerSubject: -1,
		MaxAge:            cfg.Retention,
		Discard:           jetstream.DiscardOld,
	})
	if err != nil {
		return nil, err
	}
	s.engine = &Engine{Clock: SystemClock{}, Tokens: s}
	if cfg.Tasks != nil {
		// A callback task's wait holds no slot: only its request does.
		s.engine.Tasks = callbackTasks{s, boundedTasks{integrationTasks{s, cfg.Tasks}, s.slots}}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.subscribe(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.resumeAll(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.wg.Add(3)
	go s.renewLeases()
	go s.resumeOrphans()
	go s.sweep()
	return s, nil
}

// Close stops running executions (they stay RUNNING and resume on the next
// Open, here or on another node) and waits for their goroutines.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.cancel()
	s.wg.Wait()
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func checkName(what, name string) error {
	if !nameRE.MatchString(name) {
		return errorf(KindInvalidName, "Invalid Name: '%s' (a %s name has 1 to 80 letters, digits, '-' or '_')", name, what)
	}
	return nil
}

// MachineARN is a state machine's ARN.
func (s *Service) MachineARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", s.cfg.Region, s.cfg.AccountID, name)
}

// ExecutionARN is an execution's ARN.
func (s *Service) ExecutionARN(machine, name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", s.cfg.Region, s.cfg.AccountID, machine, name)
}

// Ref is a state machine or execution ARN of this platform, parsed.
// Requests name their resource by ARN; the service parses each one strictly
// and works (and authorizes) on the ARN rebuilt from the parts, never on
// the text the client sent, so no second spelling reaches a resource.
type Ref struct {
	Machine string
	// Qualifier is a state machine version (digits) or alias, where an
	// operation accepts one.
	Qualifier string
	Execution string // set for execution ARNs
}

var (
	versionRE = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
	arnPrefix = "arn:aws:states:"
)

func invalidArn(arn string) error {
	return errorf(KindInvalidArn, "Invalid Arn: '%s'", arn)
}

// split checks an ARN's partition, service, region and account and returns
// its resource parts (type first).
func (s *Service) split(arn string) ([]string, bool) {
	rest, ok := strings.CutPrefix(arn, arnPrefix)
	if !ok {
		return nil, false
	}
	parts := strings.Split(rest, ":")
	if len(parts) < 3 || parts[0] != s.cfg.Region || parts[1] != s.cfg.AccountID {
		return nil, false
	}
	return parts[2:], true
}

// ParseMachineARN parses a state machine ARN of this platform's region and
// account. qualified allows a version or alias suffix (the operations AWS
// lets take one); anything else is InvalidArn.
func (s *Service) ParseMachineARN(arn string, qualified bool) (Ref, error) {
	parts, ok := s.split(arn)
	if !ok || parts[0] != "stateMachine" || len(parts) < 2 || len(parts) > 3 || !nameRE.MatchString(parts[1]) {
		return Ref{}, invalidArn(arn)
	}
	ref := Ref{Machine: parts[1]}
	if len(parts) == 3 {
		q := parts[2]
		if !qualified || !(versionRE.MatchString(q) || nameRE.MatchString(q)) {
			return Ref{}, invalidArn(arn)
		}
		ref.Qualifier = q
	}
	return ref, nil
}

// ParseExecutionARN parses an execution ARN of this platform's region and
// account.
func (s *Service) ParseExecutionARN(arn string) (Ref, error) {
	parts, ok := s.split(arn)
	if !ok || len(parts) != 3 || parts[0] != "execution" || !nameRE.MatchString(parts[1]) || !nameRE.MatchString(parts[2]) {
		return Ref{}, invalidArn(arn)
	}
	return Ref{Machine: parts[1], Execution: parts[2]}, nil
}

// ARN is the canonical ARN of a parsed reference.
func (s *Service) ARN(r Ref) string {
	switch {
	case r.Execution != "":
		return s.ExecutionARN(r.Machine, r.Execution)
	case r.Qualifier != "":
		return s.MachineARN(r.Machine) + ":" + r.Qualifier
	}
	return s.MachineARN(r.Machine)
}

// machineName parses an unqualified state machine ARN. A well-formed
// version or alias ARN names something nimbus does not have (it keeps no
// versions or aliases): StateMachineDoesNotExist.
func (s *Service) machineName(arn string) (string, error) {
	ref, err := s.ParseMachineARN(arn, true)
	if err != nil {
		return "", err
	}
	if ref.Qualifier != "" {
		return "", errorf(KindMachineNotFound, "State Machine Does Not Exist: '%s'", s.ARN(ref))
	}
	return ref.Machine, nil
}

// MachineName returns the name in a state machine ARN of any region and
// account; the service itself accepts only its own (ParseMachineARN).
func MachineName(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "states" || parts[5] != "stateMachine" ||
		!nameRE.MatchString(parts[6]) {
		return "", invalidArn(arn)
	}
	return parts[6], nil
}

// executionKey returns the KV key of an execution ARN.
func (s *Service) executionKey(arn string) (string, error) {
	ref, err := s.ParseExecutionARN(arn)
	if err != nil {
		return "", err
	}
	return ref.Machine + "." + ref.Execution, nil
}

// validate parses a definition, mapping its problems to InvalidDefinition.
func validate(def string) (*Definition, error) {
	d, err := Parse([]byte(def))
	if err != nil {
		return nil, &Error{Kind: KindInvalidDefinition, Message: err.Error()}
	}
	return d, nil
}

// Validate checks a definition as ValidateStateMachineDefinition does.
func Validate(def string) error {
	_, err := Parse([]byte(def))
	return err
}

// CreateStateMachine stores a new state machine. Creating one with the
// same name, definition, type and role again returns the existing one, as
// AWS does; a different one is StateMachineAlreadyExists.
func (s *Service) CreateStateMachine(ctx context.Context, m StateMachine) (*StateMachine, error) {
	if err := checkName("state machine", m.Name); err != nil {
		return nil, err
	}
	if m.Type == "" {
		m.Type = TypeStandard
	}
	if m.Type != TypeStandard && m.Type != TypeExpress {
		return nil, errorf(KindInvalid, "type must be STANDARD or EXPRESS, not %q", m.Type)
	}
	if _, err := validate(m.Definition); err != nil {
		return nil, err
	}
	if err := checkExpress(m.Type, m.Definition); err != nil {
		return nil, err
	}
	m.ARN = s.MachineARN(m.Name)
	m.Created = time.Now().UTC()
	m.RevisionID = fmt.Sprintf("%d", m.Created.UnixNano())
	data, _ := json.Marshal(m)
	if _, err := s.machines.Create(ctx, m.Name, data); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("create state machine %s: %w", m.Name, err)
		}
		old, err := s.DescribeStateMachine(ctx, m.ARN)
		if err != nil {
			return nil, err
		}
		if old.Definition == m.Definition && old.Type == m.Type && old.RoleARN == m.RoleARN {
			return old, nil
		}
		return nil, errorf(KindMachineExists, "State Machine Already Exists: '%s'", m.ARN)
	}
	return &m, nil
}

func (s *Service) getMachine(ctx context.Context, name string) (*StateMachine, uint64, error) {
	e, err := s.machines.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, errorf(KindMachineNotFound, "State Machine Does Not Exist: '%s'", s.MachineARN(name))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read state machine %s: %w", name, err)
	}
	var m StateMachine
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		return nil, 0, fmt.Errorf("decode state machine %s: %w", name, err)
	}
	return &m, e.Revision(), nil
}

// DescribeStateMachine returns a state machine by ARN.
func (s *Service) DescribeStateMachine(ctx context.Context, arn string) (*StateMachine, error) {
	name, err := s.machineName(arn)
	if err != nil {
		return nil, err
	}
	m, _, err := s.getMachine(ctx, name)
	return m, err
}

// Update is what UpdateStateMachine changes; nil fields stay.
type Update struct {
	Definition *string
	RoleARN    *string
}

// UpdateStateMachine changes a machine's definition or role. Running
// executions keep the definition they started with.
func (s *Service) UpdateStateMachine(ctx context.Context, arn string, u Update) (*StateMachine, error) {
	name, err := s.machineName(arn)
	if err != nil {
		return nil, err
	}
	if u.Definition != nil {
		if _, err := validate(*u.Definition); err != nil {
			return nil, err
		}
	}
	for {
		m, rev, err := s.getMachine(ctx, name)
		if err != nil {
			return nil, err
		}
		if u.Definition != nil {
			if err := checkExpress(m.Type, *u.Definition); err != nil {
				return nil, err
			}
			m.Definition = *u.Definition
		}
		if u.RoleARN != nil {
			m.RoleARN = *u.RoleARN
		}
		m.Updated = time.Now().UTC()
		m.RevisionID = fmt.Sprintf("%d", m.Updated.UnixNano())
		data, _ := json.Marshal(m)
		if _, err := s.machines.Update(ctx, name, data, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // changed under us: read again
			}
			return nil, fmt.Errorf("update state machine %s: %w", name, err)
		}
		return m, nil
	}
}

// TagResource adds tags to a state machine.
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	return s.retag(ctx, arn, func(m *StateMachine) {
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		for k, v := range tags {
			m.Tags[k] = v
		}
	})
}

// UntagResource removes tags from a state machine.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return s.retag(ctx, arn, func(m *StateMachine) {
		for _, k := range keys {
			delete(m.Tags, k)
		}
	})
}

func (s *Service) retag(ctx context.Context, arn string, change func(*StateMachine)) error {
	ref, err := s.ParseMachineARN(arn, true)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return errorf(KindResourceNotFound, "Resource not found: '%s'", arn)
	}
	name := ref.Machine
	for {
		m, rev, err := s.getMachine(ctx, name)
		var se *Error
		if errors.As(err, &se) && se.Kind == KindMachineNotFound {
			return errorf(KindResourceNotFound, "Resource not found: '%s'", arn)
		}
		if err != nil {
			return err
		}
		change(m)
		data, _ := json.Marshal(m)
		if _, err := s.machines.Update(ctx, name, data, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return fmt.Errorf("tag state machine %s: %w", name, err)
		}
		return nil
	}
}

// DeleteStateMachine deletes a machine and stops its running executions.
// Deleting one that does not exist succeeds, as AWS's does.
func (s *Service) DeleteStateMachine(ctx context.Context, arn string) error {
	name, err := s.machineName(arn)
	if err != nil {
		return err
	}
	if err := s.machines.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete state machine %s: %w", name, err)
	}
	// Every node stops its executions of the machine.
	s.stopMachine(name)
	if err := s.st.NC.Publish(stopMachineSubject+name, nil); err != nil {
		return fmt.Errorf("stop executions of %s: %w", name, err)
	}
	return nil
}

// ListStateMachines returns the machines sorted by name.
func (s *Service) ListStateMachines(ctx context.Context) ([]*StateMachine, error) {
	keys, err := listKeys(ctx, s.machines)
	if err != nil {
		return nil, err
	}
	out := make([]*StateMachine, 0, len(keys))
	for _, k := range keys {
		m, _, err := s.getMachine(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, m)
	}
	return out, nil
}

func listKeys(ctx context.Context, kv jetstream.KeyValue, filters ...string) ([]string, error) {
	var (
		l   jetstream.KeyLister
		err error
	)
	if len(filters) > 0 {
		l, err = kv.ListKeysFiltered(ctx, filters...)
	} else {
		l, err = kv.ListKeys(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	_ = l.Stop() // the lister has stopped itself when its channel closed
	sort.Strings(keys)
	return keys, nil
}

// Start is a StartExecution request.
type Start struct {
	StateMachineARN string
	Name            string // generated when empty
	Input           string
}

// StartExecution stores a new execution (on disk before it returns) and runs
// it. The same name and input as a RUNNING execution of a STANDARD machine
// returns that execution, as AWS's StartExecution is idempotent; otherwise a
// name in use is ExecutionAlreadyExists.
func (s *Service) StartExecution(ctx context.Context, req Start) (*Execution, error) {
	m, ex, err := s.newExecution(ctx, req)
	if err != nil {
		return nil, err
	}
	key := m.Name + "." + ex.Name
	// Registered before the record exists, so a StopExecution that comes
	// before the runner starts finds it and the execution stays ABORTED.
	r, ok := s.register(key)
	if !ok {
		return nil, errorf(KindInvalid, "the service is shutting down")
	}
	if r != nil {
		// The lease before the index entry: a scan on another node that
		// lists the entry before the record exists sees it held and leaves
		// it alone, rather than dropping it as a record-less entry.
		lease, err := s.takeLease(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyExists):
			s.unregister(r) // another node runs this name: answered below
			r = nil
		case err != nil:
			s.unregister(r)
			return nil, fmt.Errorf("lease execution %s: %w", ex.ARN, err)
		default:
			s.mu.Lock()
			r.lease, r.held = lease, time.Now()
			s.mu.Unlock()
		}
	}
	// Indexed before the record: a crash between the two leaves an index
	// entry without a record, which a scan drops once the lease has
	// expired, never a record no node resumes.
	if r != nil {
		if _, err := s.index.Put(ctx, key, nil); err != nil {
			s.finish(r)
			return nil, fmt.Errorf("index execution %s: %w", ex.ARN, err)
		}
	}
	if s.afterIndex != nil {
		s.afterIndex()
	}
	// Numbered for ListExecutions before the record exists: an entry
	// without its record is skipped by a listing.
	n, err := s.nextOrdinal(ctx, m.Name)
	if err != nil {
		if r != nil {
			s.finish(r)
		}
		return nil, err
	}
	if _, err := s.listing.Put(ctx, entryKey(m.Name, n), []byte(ex.Name)); err != nil {
		if r != nil {
			s.finish(r)
		}
		return nil, fmt.Errorf("list execution %s: %w", ex.ARN, err)
	}
	ex.Ordinal = n
	data, _ := json.Marshal(ex)
	rev, err := s.execs.Create(ctx, key, data)
	if err != nil {
		if r != nil {
			s.finish(r)
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("store execution %s: %w", ex.ARN, err)
		}
		old, err := s.DescribeExecution(ctx, ex.ARN)
		if err != nil {
			return nil, err
		}
		if m.Type == TypeStandard && old.Status == StatusRunning && old.Input == ex.Input {
			return old, nil
		}
		return nil, errorf(KindExecutionExists, "Execution Already Exists: '%s'", ex.ARN)
	}
	if r == nil {
		// A runner of this key is here or on another node, yet the record
		// was new: that runner's record read finds it.
		return ex, nil
	}
	s.launch(r, ex, rev)
	return ex, nil
}

func (s *Service) newExecution(ctx context.Context, req Start) (*StateMachine, *Execution, error) {
	name, err := s.machineName(req.StateMachineARN)
	if err != nil {
		return nil, nil, err
	}
	m, _, err := s.getMachine(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if req.Name == "" {
		req.Name = newID()
	}
	if err := checkName("execution", req.Name); err != nil {
		return nil, nil, err
	}
	if req.Input == "" {
		req.Input = "{}"
	}
	if !json.Valid([]byte(req.Input)) {
		return nil, nil, errorf(KindInvalid, "Invalid State Machine Execution Input: 'the input is not valid JSON'")
	}
	if len(req.Input) > MaxPayload {
		return nil, nil, errorf(KindInvalid, "Invalid State Machine Execution Input: 'the input has more than %d bytes'", MaxPayload)
	}
	ex := &Execution{
		ARN: s.ExecutionARN(m.Name, req.Name), Name: req.Name, StateMachineARN: m.ARN, StateMachineName: m.Name,
		Definition: m.Definition, RoleARN: m.RoleARN, Status: StatusRunning, Input: req.Input, Start: time.Now().UTC(),
	}
	return m, ex, nil
}

func (ex *Execution) info() ExecutionInfo {
	return ExecutionInfo{ARN: ex.ARN, Name: ex.Name, StateMachineARN: ex.StateMachineARN,
		StateMachineName: ex.StateMachineName, RoleARN: ex.RoleARN, StartTime: ex.Start}
}

// StartSyncExecution runs an execution of an EXPRESS machine to its end
// within the request; it is not stored and has no history.
func (s *Service) StartSyncExecution(ctx context.Context, req Start) (*Execution, error) {
	m, ex, err := s.newExecution(ctx, req)
	if err != nil {
		return nil, err
	}
	if m.Type != TypeExpress {
		return nil, errorf(KindInvalid, "StartSyncExecution works on EXPRESS state machines only; %s is STANDARD", m.ARN)
	}
	def, _ := validate(ex.Definition)
	res := s.engine.Start(ctx, def, ex.info(), json.RawMessage(ex.Input), Hooks{})
	ex.end(res)
	return ex, nil
}

func (ex *Execution) end(res Result) {
	ex.Status = res.Status
	ex.Output = string(res.Output)
	ex.Error, ex.Cause, ex.HasError = res.Error, res.Cause, res.HasError
	ex.Stop = time.Now().UTC()
	ex.Checkpoint = nil
}

// DescribeExecution returns an execution by ARN.
func (s *Service) DescribeExecution(ctx context.Context, arn string) (*Execution, error) {
	key, err := s.executionKey(arn)
	if err != nil {
		return nil, err
	}
	e, err := s.execs.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errorf(KindExecutionNotFound, "Execution Does Not Exist: '%s'", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("read execution %s: %w", arn, err)
	}
	var ex Execution
	if err := json.Unmarshal(e.Value(), &ex); err != nil {
		return nil, fmt.Errorf("decode execution %s: %w", arn, err)
	}
	return &ex, nil
}

// ListExecutions returns all of a machine's executions, newest first,
// keeping those with the given status when status is not empty. It reads
// every record: ListExecutionsPage reads only a page.
func (s *Service) ListExecutions(ctx context.Context, machineARN, status string) ([]*Execution, error) {
	name, err := s.machineName(machineARN)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.getMachine(ctx, name); err != nil {
		return nil, err
	}
	return s.listAll(ctx, name, status)
}

// listAll reads every execution record of a machine.
func (s *Service) listAll(ctx context.Context, name, status string) ([]*Execution, error) {
	keys, err := listKeys(ctx, s.execs, name+".*")
	if err != nil {
		return nil, err
	}
	var out []*Execution
	for _, k := range keys {
		ex, err := s.DescribeExecution(ctx, s.ExecutionARN(name, strings.TrimPrefix(k, name+".")))
		if err != nil {
			continue
		}
		if status == "" || ex.Status == status {
			out = append(out, ex)
		}
	}
	slices.SortStableFunc(out, func(a, b *Execution) int { return b.Start.Compare(a.Start) })
	return out, nil
}

// GetExecutionHistory returns an execution's events in order.
func (s *Service) GetExecutionHistory(ctx context.Context, arn string) ([]Event, error) {
	ex, err := s.DescribeExecution(ctx, arn)
	if err != nil {
		return nil, err
	}
	subj := historySubject + ex.StateMachineName + "." + ex.Name
	info, err := s.history.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	pending := info.State.Subjects[subj]
	if pending == 0 {
		return nil, nil
	}
	cons, err := s.history.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var events []Event
	for uint64(len(events)) < pending {
		batch, err := cons.Fetch(int(min(pending-uint64(len(events)), 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var e Event
			if err := json.Unmarshal(msg.Data(), &e); err != nil {
				return nil, fmt.Errorf("decode history event: %w", err)
			}
			events = append(events, e)
		}
		if batch.Error() != nil {
			return nil, fmt.Errorf("read history: %w", batch.Error())
		}
		if n == 0 {
			break
		}
	}
	// A resumed execution may repeat ids of events after its checkpoint:
	// keep the last of each id.
	seen := map[int64]int{}
	var out []Event
	for _, e := range events {
		if i, ok := seen[e.ID]; ok {
			out[i] = e
			continue
		}
		seen[e.ID] = len(out)
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// newID is a random execution name, as AWS generates them (a UUID).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// boundedTasks runs tasks within the node's bound on tasks running at once.
// The bound is on tasks, not executions: an execution in a Wait state or
// between retries holds nothing, so long waits never keep other executions
// from running.
type boundedTasks struct {
	tasks TaskRunner
	slots chan struct{}
}

func (b boundedTasks) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	select {
	case b.slots <- struct{}{}:
		defer func() { <-b.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.tasks.RunTask(ctx, req)
}

// HistoryPage returns up to limit events of an execution's history in
// order, from token (empty: the first), and the token of the next page
// (empty: none). It reads only the page from the store: the token holds the
// stream sequence to go on from and the last event id returned, so a copy
// of an event a resumed runner stored again is skipped.
func (s *Service) HistoryPage(ctx context.Context, arn string, limit int, token string) ([]Event, string, error) {
	ex, err := s.DescribeExecution(ctx, arn)
	if err != nil {
		return nil, "", err
	}
	seq, lastID := uint64(1), int64(0)
	if token != "" {
		if _, err := fmt.Sscanf(token, "%d.%d", &seq, &lastID); err != nil || seq == 0 {
			return nil, "", errorf(KindInvalid, "Invalid Token: '%s'", token)
		}
	}
	subj := historySubject + ex.StateMachineName + "." + ex.Name
	var events []Event
	for len(events) < limit {
		msg, err := s.history.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return events, "", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("read history: %w", err)
		}
		seq = msg.Sequence + 1
		var e Event
		if err := json.Unmarshal(msg.Data, &e); err != nil {
			return nil, "", fmt.Errorf("decode history event: %w", err)
		}
		if e.ID <= lastID {
			continue
		}
		lastID = e.ID
		events = append(events, e)
	}
	// A full page: is there more?
	if _, err := s.history.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj)); errors.Is(err, jetstream.ErrMsgNotFound) {
		return events, "", nil
	} else if err != nil {
		return nil, "", fmt.Errorf("read history: %w", err)
	}
	return events, fmt.Sprintf("%d.%d", seq, lastID), nil
}
