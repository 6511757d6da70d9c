package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Activities: a Task whose resource is an activity ARN hands its input to
// a worker that polls GetActivityTask, and waits for the worker to send
// its task token back (SendTaskSuccess/Failure/Heartbeat), as a
// .waitForTaskToken task waits. The activities are records in
// activitiesBucket; their pending tasks are messages in activityStream
// (one subject per activity, a work queue), published once per attempt
// (the token's Sent mark, and the token as the message id against a resumed
// runner publishing twice) and taken by one durable pull consumer per
// activity, which JetStream serves to waiting pollers in the order they
// asked. A task handed out is acked only once its token records the
// worker, so a crash in between hands it out again; one handed out stays
// with its worker through restarts (its token and the waiting execution are
// durable).
const (
	activitiesBucket = "workflow-activities"
	activityStream   = "WORKFLOW_ACTIVITIES"
	activitySubject  = "workflows.activity."
	// MaxActivityPoll is how long GetActivityTask waits for a task (AWS:
	// 60 s).
	MaxActivityPoll = 60 * time.Second
)

// Kinds of activity errors.
const (
	KindActivityNotFound Kind = iota + 100
)

// Activity is a registered activity.
type Activity struct {
	ARN     string            `json:"arn"`
	Name    string            `json:"name"`
	Created time.Time         `json:"created"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// activityTask is a pending task of an activity.
type activityTask struct {
	Token string          `json:"token"`
	Input json.RawMessage `json:"input"`
}

// ActivityTask is what GetActivityTask gives a worker: empty Token when
// no task came within the poll.
type ActivityTask struct {
	Token string
	Input string
}

// ActivityARN is the ARN of the activity name.
func (s *Service) ActivityARN(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:activity:%s", s.cfg.Region, s.cfg.AccountID, name)
}

// ParseActivityARN returns the name of an activity ARN of this platform.
func (s *Service) ParseActivityARN(arn string) (string, error) {
	parts, ok := s.split(arn)
	if !ok || len(parts) != 2 || parts[0] != "activity" || !nameRE.MatchString(parts[1]) {
		return "", invalidArn(arn)
	}
	return parts[1], nil
}

// IsActivityARN reports whether a Task resource names an activity.
func IsActivityARN(resource string) bool {
	parts := strings.Split(resource, ":")
	return len(parts) == 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "activity"
}

func (s *Service) openActivities(ctx context.Context) error {
	var err error
	if s.activities, err = s.st.KeyValue(ctx, activitiesBucket, 1); err != nil {
		return err
	}
	s.activityTasks, err = s.st.Stream(ctx, jetstream.StreamConfig{
		Name:       activityStream,
		Subjects:   []string{activitySubject + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Duplicates: 10 * time.Minute,
	})
	return err
}

// CreateActivity registers an activity; creating an existing one again
// returns it, as AWS does.
func (s *Service) CreateActivity(ctx context.Context, name string, tags map[string]string) (*Activity, error) {
	if err := checkName("activity", name); err != nil {
		return nil, err
	}
	a := &Activity{ARN: s.ActivityARN(name), Name: name, Created: time.Now().UTC(), Tags: tags}
	data, _ := json.Marshal(a)
	if _, err := s.activities.Create(ctx, name, data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return s.DescribeActivity(ctx, a.ARN)
		}
		return nil, fmt.Errorf("store activity: %w", err)
	}
	return a, nil
}

// DescribeActivity returns an activity.
func (s *Service) DescribeActivity(ctx context.Context, arn string) (*Activity, error) {
	name, err := s.ParseActivityARN(arn)
	if err != nil {
		return nil, err
	}
	e, err := s.activities.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errorf(KindActivityNotFound, "Activity Does Not Exist: '%s'", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("read activity: %w", err)
	}
	var a Activity
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return nil, fmt.Errorf("decode activity: %w", err)
	}
	return &a, nil
}

// DeleteActivity removes an activity and its pending tasks; tasks waiting
// for it end by their own TimeoutSeconds, as on AWS.
func (s *Service) DeleteActivity(ctx context.Context, arn string) error {
	name, err := s.ParseActivityARN(arn)
	if err != nil {
		return err
	}
	if err := s.activities.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete activity: %w", err)
	}
	if err := s.activityTasks.DeleteConsumer(ctx, activityConsumer(name)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete activity consumer: %w", err)
	}
	if err := s.activityTasks.Purge(ctx, jetstream.WithPurgeSubject(activitySubject+name)); err != nil {
		return fmt.Errorf("purge activity tasks: %w", err)
	}
	return nil
}

// ListActivities lists the activities by name.
func (s *Service) ListActivities(ctx context.Context) ([]*Activity, error) {
	names, err := listKeys(ctx, s.activities)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]*Activity, 0, len(names))
	for _, n := range names {
		a, err := s.DescribeActivity(ctx, s.ActivityARN(n))
		var we *Error
		if errors.As(err, &we) && we.Kind == KindActivityNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func activityConsumer(name string) string { return "activity_" + name }

func (s *Service) activityConsumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	c, err := s.activityTasks.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       activityConsumer(name),
		FilterSubject: activitySubject + name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: -1,
		// Pollers wait up to a minute: keep their pull requests.
		MaxWaiting: 4096,
	})
	if err != nil {
		return nil, fmt.Errorf("activity consumer: %w", err)
	}
	return c, nil
}

// GetActivityTask waits up to wait (at most MaxActivityPoll) for a task of
// the activity and hands it to worker.
func (s *Service) GetActivityTask(ctx context.Context, arn, worker string, wait time.Duration) (*ActivityTask, error) {
	a, err := s.DescribeActivity(ctx, arn)
	if err != nil {
		return nil, err
	}
	if wait <= 0 || wait > MaxActivityPoll {
		wait = MaxActivityPoll
	}
	c, err := s.activityConsumer(ctx, a.Name)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left < 100*time.Millisecond || ctx.Err() != nil {
			return &ActivityTask{}, nil
		}
		// The pull request ends with the poll or the caller: a task sent to
		// a poller that hung up is handed out again after the ack wait.
		fctx, cancel := context.WithTimeout(ctx, left)
		batch, err := c.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			d, _ := fctx.Deadline() // the caller's, if sooner than the poll's
			over := fctx.Err() != nil || time.Until(d) < 100*time.Millisecond
			cancel()
			if over {
				return &ActivityTask{}, nil // the poll's time or its caller ran out
			}
			return nil, fmt.Errorf("fetch activity task: %w", err)
		}
		var task *ActivityTask
		for msg := range batch.Messages() {
			if t, ok := s.handOut(ctx, msg, worker); ok {
				task = t
			}
		}
		cancel()
		if task != nil {
			return task, nil
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			if ctx.Err() != nil {
				return &ActivityTask{}, nil
			}
			return nil, fmt.Errorf("fetch activity task: %w", err)
		}
	}
}

// handOut gives one pending task to worker if its attempt still waits:
// the token records the worker (the waiting runner reports
// ActivityStarted), then the message is acked. A task whose attempt ended
// is dropped.
func (s *Service) handOut(ctx context.Context, msg jetstream.Msg, worker string) (*ActivityTask, bool) {
	var t activityTask
	if err := json.Unmarshal(msg.Data(), &t); err != nil || !tokenRE.MatchString(t.Token) {
		_ = msg.Term()
		return nil, false
	}
	err := s.changeToken(ctx, "t."+t.Token, func(rec *tokenRecord) error {
		if rec.Status != tokenWaiting {
			return taskGone()
		}
		rec.Started, rec.Worker = true, worker
		return nil
	})
	if err != nil {
		var we *Error
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.As(err, &we) {
			_ = msg.Term()
		} else {
			_ = msg.Nak()
		}
		return nil, false
	}
	if err := msg.DoubleAck(ctx); err != nil {
		s.log.Warn("activity task handed out but not acked (it may be handed out again)", "err", err)
	}
	return &ActivityTask{Token: t.Token, Input: string(t.Input)}, true
}

// runActivity schedules an activity task (once per attempt) and waits for
// its token. The activity must exist when the task is scheduled.
func (s *Service) runActivity(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	if req.Token == "" {
		return nil, &Failure{Name: ErrRuntime, Cause: "activity tasks need task tokens"}
	}
	key := "t." + req.Token
	rec, _, err := s.readToken(ctx, key)
	if err != nil {
		return nil, err
	}
	if rec.Status == tokenWaiting && !rec.Sent {
		a, err := s.DescribeActivity(ctx, req.Resource)
		if err != nil {
			var we *Error
			if errors.As(err, &we) {
				return nil, &Failure{Name: ErrRuntime, Cause: we.Message}
			}
			return nil, err
		}
		data, _ := json.Marshal(activityTask{Token: req.Token, Input: req.Input})
		if _, err := s.st.JS.PublishMsg(ctx, &nats.Msg{Subject: activitySubject + a.Name, Data: data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{req.Token}}}); err != nil {
			return nil, fmt.Errorf("schedule activity task: %w", err)
		}
		if err := s.changeToken(ctx, key, func(r *tokenRecord) error { r.Sent = true; return nil }); err != nil {
			return nil, err
		}
	}
	// ActivityStarted is stored once, by whichever run sees the hand-out
	// first (a crash between the event and the mark stores it twice).
	started := func(worker string) {
		if req.Started != nil {
			req.Started(worker)
		}
		// Marked even when the runner is being stopped (a restart), so the
		// resumed run does not report it again.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.changeToken(mctx, key, func(r *tokenRecord) error { r.Reported = true; return nil }); err != nil {
			s.log.Debug("activity start not marked", "err", err)
		}
	}
	return s.awaitToken(ctx, key, req.Heartbeat, started)
}
