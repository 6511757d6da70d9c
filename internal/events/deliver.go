package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/schedule"
	"github.com/nimbus-platform/nimbus/internal/store"
	"github.com/nimbus-platform/nimbus/internal/topics"
)

// batch is one stored message of accepted events of one bus.
type batch struct {
	Bus      string            `json:"bus"`
	Rule     string            `json:"rule,omitempty"` // a scheduled tick: only this rule
	Events   []json.RawMessage `json:"events"`
	Ingested int64             `json:"ingested"` // unix ms
}

// retryMsg is one delivery to try again.
type retryMsg struct {
	Bus       string          `json:"bus"`
	Rule      string          `json:"rule"`
	Target    string          `json:"target"`
	Event     json.RawMessage `json:"event"`
	Ingested  int64           `json:"ingested"`
	Attempts  int             `json:"attempts"` // attempts already made
	NotBefore int64           `json:"notBefore"`
}

// deliveryError is a failed delivery: its error code and whether to retry.
type deliveryError struct {
	Code, Message string
	Retryable     bool
}

func (e *deliveryError) Error() string { return e.Code + ": " + e.Message }

// PutEvents validates the entries and stores the accepted ones durably before
// it returns. Entries fail one by one (in the results); the call fails as a
// whole only for a bad request or when nothing could be stored.
func (s *Service) PutEvents(ctx context.Context, entries []Entry) ([]EntryResult, error) {
	if len(entries) == 0 || len(entries) > MaxEntriesPerPut {
		return nil, errorf(CodeValidation, "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", MaxEntriesPerPut)
	}
	total := 0
	for i := range entries {
		total += entrySize(&entries[i])
	}
	if total > MaxPutEventsBytes {
		return nil, errorf(CodeValidation, "Total size of the entries in the request is over the limit.")
	}
	s.syncManaged()
	now := time.Now()
	results := make([]EntryResult, len(entries))
	groups := map[string]*batch{}
	var order []string
	members := map[string][]int{}
	s.mu.RLock()
	for i := range entries {
		e := &entries[i]
		if code, msg := checkEntry(e); code != "" {
			results[i] = EntryResult{ErrorCode: code, ErrorMessage: msg}
			continue
		}
		bus := BusName(e.EventBusName)
		if s.buses[bus] == nil {
			results[i] = EntryResult{ErrorCode: "ResourceNotFoundException", ErrorMessage: fmt.Sprintf("Event bus %s does not exist.", bus)}
			continue
		}
		at := now
		if e.Time != nil {
			at = *e.Time
		}
		id := uuid.NewString()
		g := groups[bus]
		if g == nil {
			g = &batch{Bus: bus, Ingested: now.UnixMilli()}
			groups[bus] = g
			order = append(order, bus)
		}
		g.Events = append(g.Events, buildEvent(id, s.cfg.AccountID, s.regionOr(s.buses[bus].bus.Region), e, at))
		members[bus] = append(members[bus], i)
		results[i] = EntryResult{EventID: id}
	}
	s.mu.RUnlock()
	var stored int
	var firstErr error
	for _, bus := range order {
		if err := s.publish(ctx, subjectIn, groups[bus], ""); err != nil {
			firstErr = err
			for _, i := range members[bus] {
				results[i] = EntryResult{ErrorCode: "InternalFailure", ErrorMessage: "The event could not be stored; send it again."}
			}
			continue
		}
		stored++
	}
	if stored == 0 && firstErr != nil {
		return nil, errorf(CodeInternal, "store events: %v", firstErr)
	}
	return results, nil
}

func (s *Service) publish(ctx context.Context, subject string, v any, msgID string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("store %s: %w", subject, err)
	}
	return nil
}

func (s *Service) startDelivery(ctx context.Context) error {
	for _, c := range []struct {
		name, subject string
		workers       int
		handle        func(context.Context, jetstream.Msg)
	}{
		{"events-router", subjectIn, s.cfg.Workers, s.handleBatch},
		{"events-retry", subjectRetry, max(s.cfg.Workers/4, 4), s.handleRetry},
	} {
		cons, err := s.js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{
			Durable:       c.name,
			FilterSubject: c.subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.cfg.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: c.workers * 4,
		})
		if err != nil {
			return fmt.Errorf("event bus consumer: %w", err)
		}
		iter, err := cons.Messages(jetstream.PullMaxMessages(c.workers * 2))
		if err != nil {
			return fmt.Errorf("event bus consumer: %w", err)
		}
		work := store.Pump(ctx, iter, &s.wg, s.log, "event bus")
		s.wg.Add(c.workers)
		handle := c.handle
		for range c.workers {
			go func() {
				defer s.wg.Done()
				for m := range work {
					handle(ctx, m)
				}
			}()
		}
	}
	return nil
}

// keepInProgress stops redelivery of m while its deliveries run.
func (s *Service) keepInProgress(ctx context.Context, m jetstream.Msg) context.CancelFunc {
	ctx, stop := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(s.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return stop
}

type delivery struct {
	rule   *Rule
	target Target
	event  json.RawMessage
}

func (s *Service) handleBatch(ctx context.Context, m jetstream.Msg) {
	var b batch
	if err := json.Unmarshal(m.Data(), &b); err != nil {
		s.log.Error("unreadable event batch dropped", "err", err)
		_ = m.Term()
		return
	}
	var jobs []delivery
	s.mu.RLock()
	bs := s.buses[b.Bus]
	for _, ev := range b.Events {
		if bs == nil {
			break
		}
		var names []string
		if b.Rule != "" {
			names = []string{b.Rule}
		} else {
			var err error
			names, err = bs.matcher.Match(ev)
			if err != nil {
				s.log.Warn("event could not be matched", "bus", b.Bus, "err", err)
				continue
			}
		}
		for _, n := range names {
			r := bs.rules[n]
			if r == nil || !r.Enabled() {
				continue
			}
			for _, t := range r.Targets {
				jobs = append(jobs, delivery{rule: r, target: t, event: ev})
			}
		}
	}
	s.mu.RUnlock()
	if len(jobs) == 0 {
		_ = m.Ack()
		return
	}
	stop := s.keepInProgress(ctx, m)
	defer stop()
	var wg sync.WaitGroup
	var failed sync.Mutex
	keep := false
	run := func(d delivery) {
		err := s.deliver(ctx, d.rule, &d.target, d.event, b.Ingested)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			failed.Lock()
			keep = true
			failed.Unlock()
			return
		}
		if err := s.failed(ctx, d.rule, &d.target, d.event, b.Ingested, 1, err); err != nil {
			failed.Lock()
			keep = true
			failed.Unlock()
		}
	}
	if len(jobs) == 1 {
		run(jobs[0])
	} else {
		wg.Add(len(jobs))
		for _, d := range jobs {
			go func() {
				defer wg.Done()
				run(d)
			}()
		}
		wg.Wait()
	}
	if keep {
		_ = m.NakWithDelay(s.cfg.RetryDelay)
		return
	}
	_ = m.Ack()
}

func (s *Service) handleRetry(ctx context.Context, m jetstream.Msg) {
	var rm retryMsg
	if err := json.Unmarshal(m.Data(), &rm); err != nil {
		s.log.Error("unreadable event retry dropped", "err", err)
		_ = m.Term()
		return
	}
	if wait := time.Until(time.UnixMilli(rm.NotBefore)); wait > 0 {
		_ = m.NakWithDelay(wait)
		return
	}
	r, err := s.lookupRule(rm.Bus, rm.Rule)
	var target *Target
	if err == nil {
		for i := range r.Targets {
			if r.Targets[i].ID == rm.Target {
				target = &r.Targets[i]
			}
		}
	}
	if target == nil {
		s.log.Warn("event retry dropped: the rule or target was removed", "bus", rm.Bus, "rule", rm.Rule, "target", rm.Target)
		_ = m.Ack()
		return
	}
	stop := s.keepInProgress(ctx, m)
	derr := s.deliver(ctx, r, target, rm.Event, rm.Ingested)
	stop()
	if derr == nil {
		_ = m.Ack()
		return
	}
	if ctx.Err() != nil {
		_ = m.Nak()
		return
	}
	if err := s.failed(ctx, r, target, rm.Event, rm.Ingested, rm.Attempts+1, derr); err != nil {
		_ = m.NakWithDelay(s.cfg.RetryDelay)
		return
	}
	_ = m.Ack()
}

// failed handles a failed attempt (attempts made so far, counting it): it
// stores a retry, or sends the event to the dead-letter queue when the retry
// policy is used up. An error means neither could be stored.
func (s *Service) failed(ctx context.Context, r *Rule, t *Target, event json.RawMessage, ingested int64, attempts int, derr error) error {
	var de *deliveryError
	if !errors.As(derr, &de) {
		de = &deliveryError{Code: "InternalException", Message: derr.Error(), Retryable: true}
	}
	maxRetries, maxAge := t.Retries()
	delay := s.cfg.RetryDelay << min(attempts-1, 20)
	delay = min(delay, s.cfg.RetryMaxDelay)
	delay += time.Duration(rand.Int64N(int64(delay)/4 + 1))
	condition := ""
	switch {
	case !de.Retryable:
		condition = ""
	case attempts-1 >= maxRetries:
		condition = "MaximumRetryAttempts"
	case time.Since(time.UnixMilli(ingested))+delay > time.Duration(maxAge)*time.Second:
		condition = "MaximumEventAgeInSeconds"
	default:
		return s.publish(ctx, subjectRetry, retryMsg{
			Bus: r.Bus, Rule: r.Name, Target: t.ID, Event: event, Ingested: ingested,
			Attempts: attempts, NotBefore: time.Now().Add(delay).UnixMilli(),
		}, "")
	}
	s.log.Warn("event delivery failed", "rule", r.Name, "target", t.ID, "attempts", attempts, "code", de.Code, "err", de.Message)
	if t.DeadLetterConfig == nil || t.DeadLetterConfig.Arn == "" {
		return nil
	}
	attrs := map[string]string{
		"ERROR_CODE":    de.Code,
		"ERROR_MESSAGE": de.Message,
		"RULE_ARN":      s.RuleARN(r),
		"TARGET_ARN":    t.Arn,
	}
	if condition != "" {
		attrs["EXHAUSTED_RETRY_CONDITION"] = condition
		attrs["RETRY_ATTEMPTS"] = strconv.Itoa(attempts - 1)
	}
	if err := s.sendDLQ(ctx, t.DeadLetterConfig.Arn, event, attrs); err != nil {
		s.log.Error("dead-letter delivery failed; the event is dropped", "rule", r.Name, "target", t.ID, "dlq", t.DeadLetterConfig.Arn, "err", err)
	}
	return nil
}

// sendDLQ sends an undeliverable event to a dead-letter queue. A function
// (a nimbus extension) receives the event, with the attributes as the
// client context's custom values.
func (s *Service) sendDLQ(ctx context.Context, arn string, event []byte, attrs map[string]string) error {
	switch svc := arnService(arn); svc {
	case "lambda":
		cc, _ := json.Marshal(map[string]any{"custom": attrs})
		resp, err := s.cfg.Invoker.Invoke(ctx, &invoke.Request{Function: arn, Payload: event, ClientContext: string(cc), Source: "dead-letter"})
		if err != nil {
			return err
		}
		if resp.FunctionError != "" {
			return fmt.Errorf("dead-letter function failed: %s", resp.Payload)
		}
		return nil
	default:
		sink := s.cfg.Sinks[svc]
		if sink == nil {
			return fmt.Errorf("no %s dead-letter queues on this node", svc)
		}
		return sink(ctx, arn, event, attrs)
	}
}

// deliver sends one event to one target.
func (s *Service) deliver(ctx context.Context, r *Rule, t *Target, event json.RawMessage, ingested int64) error {
	payload, err := Render(t, event, RenderContext{
		RuleARN: s.RuleARN(r), RuleName: r.Name,
		IngestionTime: time.UnixMilli(ingested).UTC().Format("2006-01-02T15:04:05Z"),
	})
	if err != nil {
		return &deliveryError{Code: "InputTransformationFailed", Message: err.Error()}
	}
	switch svc := arnService(t.Arn); svc {
	case "lambda":
		resp, err := s.cfg.Invoker.Invoke(ctx, &invoke.Request{Function: t.Arn, Payload: payload, Source: "rule " + r.Name})
		if err != nil {
			var nf *invoke.NotFoundError
			var bad *invoke.InvalidParameterError
			var big *invoke.PayloadTooLargeError
			switch {
			case errors.As(err, &nf):
				return &deliveryError{Code: "ResourceNotFoundException", Message: err.Error()}
			case errors.As(err, &bad), errors.As(err, &big):
				return &deliveryError{Code: "InvalidParameterValueException", Message: err.Error()}
			case invoke.IsThrottle(err):
				return &deliveryError{Code: "ThrottlingException", Message: err.Error(), Retryable: true}
			}
			return &deliveryError{Code: "InternalException", Message: err.Error(), Retryable: true}
		}
		if resp.FunctionError != "" {
			msg := string(resp.Payload)
			var fe struct {
				ErrorMessage string `json:"errorMessage"`
			}
			if json.Unmarshal(resp.Payload, &fe) == nil && fe.ErrorMessage != "" {
				msg = fe.ErrorMessage
			}
			return &deliveryError{Code: "Lambda.FunctionError", Message: msg, Retryable: true}
		}
		return nil
	case "events":
		bus := BusName(t.Arn)
		s.mu.RLock()
		exists := s.buses[bus] != nil
		s.mu.RUnlock()
		if !exists {
			return &deliveryError{Code: "ResourceNotFoundException", Message: fmt.Sprintf("Event bus %s does not exist.", bus)}
		}
		if len(payload) == 0 || payload[0] != '{' || !json.Valid(payload) {
			return &deliveryError{Code: "InvalidParameterValueException", Message: "an event bus target needs a JSON object event"}
		}
		if err := s.publish(ctx, subjectIn, batch{Bus: bus, Events: []json.RawMessage{payload}, Ingested: time.Now().UnixMilli()}, ""); err != nil {
			return &deliveryError{Code: "InternalException", Message: err.Error(), Retryable: true}
		}
		return nil
	default:
		sink := s.cfg.Sinks[svc]
		if sink == nil {
			return &deliveryError{Code: "ResourceNotFoundException", Message: fmt.Sprintf("no %s targets on this node", svc)}
		}
		if err := sink(ctx, t.Arn, payload, nil); err != nil {
			return sinkError(err)
		}
		return nil
	}
}

// sinkError classifies a queue's or topic's refusal as EventBridge does: a target that does not
// exist, or that refuses the message itself, fails at once (to the dead-letter queue, without
// retries); anything else may pass later and is retried.
func sinkError(err error) *deliveryError {
	var qe *queues.Error
	if errors.As(err, &qe) {
		switch qe.Kind {
		case queues.QueueDoesNotExist:
			return &deliveryError{Code: "ResourceNotFoundException", Message: qe.Message}
		case queues.InvalidParameterValue:
			return &deliveryError{Code: "InvalidParameterValueException", Message: qe.Message}
		}
	}
	var te *topics.Error
	if errors.As(err, &te) {
		switch te.Kind {
		case topics.NotFound:
			return &deliveryError{Code: "ResourceNotFoundException", Message: te.Message}
		case topics.InvalidParameterValue:
			return &deliveryError{Code: "InvalidParameterValueException", Message: te.Message}
		}
	}
	var ee *Error // a state machine's refusal (the server's states sink)
	if errors.As(err, &ee) {
		switch ee.Code {
		case CodeNotFound:
			return &deliveryError{Code: "ResourceNotFoundException", Message: ee.Message}
		case CodeValidation:
			return &deliveryError{Code: "InvalidParameterValueException", Message: ee.Message}
		}
	}
	return &deliveryError{Code: "InternalException", Message: err.Error(), Retryable: true}
}

// --- schedules ----------------------------------------------------------

func (s *Service) notifySchedules() {
	select {
	case s.syncNotify <- struct{}{}:
	default:
	}
}

// scheduleJobs lists the enabled scheduled rules.
func (s *Service) scheduleJobs() []schedule.Job {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var jobs []schedule.Job
	if b := s.buses[DefaultBus]; b != nil {
		for _, r := range b.rules {
			if r.ScheduleExpression != "" && r.Enabled() && len(r.Targets) > 0 {
				jobs = append(jobs, schedule.Job{ID: s.RuleARN(r), Expression: r.ScheduleExpression, Created: time.UnixMilli(r.CreatedAt)})
			}
		}
	}
	return jobs
}

func (s *Service) runSchedules(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.sched.Run(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-s.syncNotify:
			s.sched.Set(ctx, s.scheduleJobs())
		}
	}
}

// scheduledEventNamespace derives the ids of scheduled events from rule and tick.
var scheduledEventNamespace = uuid.MustParse("6f1f7c3e-4b7a-4a8e-9a59-2b7d7f2f9c11")

// fireSchedule stores one tick of a scheduled rule as its Scheduled Event.
func (s *Service) fireSchedule(ctx context.Context, job schedule.Job, tick time.Time) error {
	i := strings.Index(job.ID, ":rule/")
	if i < 0 {
		return fmt.Errorf("job %s is not a rule", job.ID)
	}
	name := job.ID[i+len(":rule/"):]
	id := uuid.NewSHA1(scheduledEventNamespace, []byte(job.ID+"@"+strconv.FormatInt(tick.UnixMilli(), 10))).String()
	region := s.cfg.Region
	if parts := strings.SplitN(job.ID, ":", 5); len(parts) == 5 && parts[3] != "" {
		region = parts[3] // the rule's ARN carries its region
	}
	ev := buildEvent(id, s.cfg.AccountID, region, &Entry{
		Source: "aws.events", DetailType: "Scheduled Event", Detail: "{}", Resources: []string{job.ID},
	}, tick)
	return s.publish(ctx, subjectIn, batch{Bus: DefaultBus, Rule: name, Events: []json.RawMessage{ev}, Ingested: tick.UnixMilli()},
		job.ID+"@"+strconv.FormatInt(tick.UnixMilli(), 10))
}
