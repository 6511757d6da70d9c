package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/codedeploy"
	"github.com/nimbus-platform/nimbus/internal/awsapi/dispatch"
	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodb"
	"github.com/nimbus-platform/nimbus/internal/awsapi/dynamodbstreams"
	"github.com/nimbus-platform/nimbus/internal/awsapi/eventbridge"
	"github.com/nimbus-platform/nimbus/internal/awsapi/kinesis"
	"github.com/nimbus-platform/nimbus/internal/awsapi/sns"
	"github.com/nimbus-platform/nimbus/internal/awsapi/sqs"
	"github.com/nimbus-platform/nimbus/internal/awsapi/ssm"
	"github.com/nimbus-platform/nimbus/internal/awsapi/stepfunctions"
	"github.com/nimbus-platform/nimbus/internal/datastreams"
	"github.com/nimbus-platform/nimbus/internal/events"
	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/schedule"
	"github.com/nimbus-platform/nimbus/internal/streamsource"
	"github.com/nimbus-platform/nimbus/internal/tables"
	"github.com/nimbus-platform/nimbus/internal/topics"
)

// eventParts are the durable event paths of a node.
type eventParts struct {
	queues  *queues.Service
	topics  *topics.Service
	bus     *events.Service
	pollers *queues.Pollers
	streams *streamsource.Pollers // stream events
	kinesis *datastreams.Service
}

// EventsConfig tunes the event bus and schedules; tests shorten the delays.
type EventsConfig struct {
	// Clock drives schedules (default the wall clock; schedule.ScaledClock runs faster).
	Clock schedule.Clock
	// RetryDelay is the first retry delay of a failed delivery (default 1s).
	RetryDelay time.Duration
	Workers    int
}

// Bus is the node's event bus (EventBridge).
func (s *Server) Bus() *events.Service { return s.events.bus }

// checkEvents refuses deploys whose schedules or event rules are invalid.
func (s *Server) checkEvents(app *appspec.Application, others []appspec.Application) error {
	if s.events.bus == nil {
		return nil
	}
	return s.events.bus.CheckDeploy(app, others)
}

// startEvents wires the durable event paths: asynchronous invocations,
// queues and topics, and starts their consumers.
func (s *Server) startEvents(ctx context.Context) error {
	var err error
	s.Async, err = async.New(ctx, async.Config{
		Store:         s.store,
		Invoker:       s.Invoker,
		Registry:      s.Registry,
		Workers:       s.cfg.Async.Workers,
		RetryDelays:   s.cfg.Async.RetryDelays,
		ThrottleDelay: s.cfg.Async.ThrottleDelay,
		AckWait:       s.cfg.Async.AckWait,
		Logger:        s.log.With("part", "async"),
	})
	if err != nil {
		return err
	}
	s.events.queues, err = queues.New(ctx, queues.ServiceConfig{Store: s.store, Logger: s.log.With("part", "queues")})
	if err != nil {
		return err
	}
	s.Async.SetSink("sqs", s.events.queues.Sink)
	s.Registry.OnDeploy(s.events.queues.PrepareDeploy)
	s.Registry.AddInventory(queues.Inventory)
	s.Registry.OnDeploy(s.tables.DeployHook(s.Registry.Service))
	s.Registry.AddInventory(tables.Inventory)
	s.Registry.AfterRemove(s.tables.RemoveService)
	s.events.topics, err = topics.New(ctx, topics.Config{Store: s.store, Async: s.Async, Queues: s.events.queues, Logger: s.log.With("part", "topics")})
	if err != nil {
		return err
	}
	s.Async.SetSink("sns", s.events.topics.Sink)
	s.Registry.OnDeploy(s.events.topics.PrepareDeploy)
	s.Registry.AddInventory(topics.Inventory)
	s.events.pollers = queues.NewPollers(s.events.queues, s.Invoker, s.Registry, s.log.With("part", "sqs-triggers"))
	if s.events.kinesis, err = datastreams.Open(ctx, s.store, "", s.log.With("part", "kinesis")); err != nil {
		return err
	}
	s.Registry.OnDeploy(s.events.kinesis.DeployHook)
	s.Registry.AddInventory(datastreams.Inventory)
	s.events.streams, err = streamsource.New(ctx, streamsource.Config{Store: s.store, Invoker: s.Invoker, Registry: s.Registry,
		Sources: map[string]streamsource.Source{"dynamodb": streamsource.Tables{Service: s.tables}, "kinesis": streamsource.Kinesis{Service: s.events.kinesis}},
		Sinks:   map[string]streamsource.Sink{"sqs": s.events.queues.Sink, "sns": s.events.topics.Sink},
		Logger:  s.log.With("part", "stream-events"), Node: s.nodeName()})
	if err != nil {
		return err
	}
	s.Registry.OnDeploy(s.events.streams.PrepareDeploy)
	s.events.bus, err = events.Open(ctx, events.Config{
		Store:      s.store,
		Invoker:    s.Invoker,
		Registry:   s.Registry,
		Sinks:      map[string]events.Sink{"sqs": s.events.queues.Sink, "sns": s.events.topics.Sink, "states": s.machineSink},
		Workers:    s.cfg.Events.Workers,
		RetryDelay: s.cfg.Events.RetryDelay,
		Clock:      s.cfg.Events.Clock,
		Logger:     s.log.With("part", "events"),
	})
	if err != nil {
		return err
	}
	s.Registry.AddInventory(s.events.bus.Inventory)
	ectx, stop := context.WithCancel(context.Background())
	s.stopEvents = stop
	if err := s.events.queues.Start(ectx); err != nil {
		return err
	}
	if err := s.events.bus.Start(ectx); err != nil {
		return err
	}
	s.events.pollers.Start(ectx, time.Second)
	s.events.streams.Start(ectx, time.Second)
	s.startObjectNotifications(ectx)
	return s.Async.Start(ectx)
}

// stopEventParts stops the event consumers and waits, until ctx ends, for
// the work they started.
func (s *Server) stopEventParts(ctx context.Context) error {
	if s.stopEvents == nil {
		return nil
	}
	s.stopEvents()
	var errs []error
	if s.events.pollers != nil {
		if err := s.events.pollers.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("queue triggers: %w", err))
		}
	}
	if s.events.streams != nil {
		if err := s.events.streams.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stream events: %w", err))
		}
	}
	if s.Async != nil {
		if err := s.Async.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("async invocations: %w", err))
		}
	}
	if s.events.bus != nil {
		done := make(chan struct{})
		go func() { s.events.bus.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("event bus deliveries: %w", ctx.Err()))
		}
	}
	return errors.Join(errs...)
}

// registerEventAPIs serves SQS (and SNS) on the API listener.
func (s *Server) registerEventAPIs(mux *http.ServeMux) {
	(&dispatch.Dispatcher{
		SQS:   &sqs.API{Queues: s.events.queues},
		Query: []dispatch.QueryService{&sns.API{Topics: s.events.topics}},
		JSON: map[string]http.Handler{
			eventbridge.TargetPrefix:   &eventbridge.API{Bus: s.events.bus},
			ssm.TargetPrefix:           s.ssmAPI(),           // params.go
			stepfunctions.TargetPrefix: s.stepFunctionsAPI(), // workflows.go
			codedeploy.TargetPrefix:    s.codeDeployAPI(),    // deployments.go
			dynamodb.TargetPrefix: &dynamodb.API{Tables: s.tables, Logger: s.log, Authorize: func(ctx context.Context, action, resource string) error {
				return auth.Authorize(ctx, action, resource, nil)
			}, AuthorizeKeys: func(ctx context.Context, action, resource string, keys *auth.MultiKeys) error {
				return auth.AuthorizeKeys(ctx, action, resource, nil, keys)
			}},
			kinesis.TargetPrefix: &kinesis.API{Streams: s.events.kinesis, Logger: s.log, Authorize: func(ctx context.Context, action, resource string) error {
				return auth.Authorize(ctx, action, resource, nil)
			}},
			dynamodbstreams.TargetPrefix: &dynamodbstreams.API{Tables: s.tables, Logger: s.log, Authorize: func(ctx context.Context, action, resource string) error {
				return auth.Authorize(ctx, action, resource, nil)
			}},
		},
	}).Register(mux)
}

// putWebhookEvent puts a webhook request on its bus (gateway.Config.PutEvent).
func (s *Server) putWebhookEvent(ctx context.Context, bus, source, detailType, detail string) (string, string, string, error) {
	if s.events.bus == nil {
		return "", "", "", errors.New("the event bus is not running")
	}
	res, err := s.events.bus.PutEvents(ctx, []events.Entry{{EventBusName: bus, Source: source, DetailType: detailType, Detail: detail}})
	if err != nil {
		return "", "", "", fmt.Errorf("put event: %w", err)
	}
	return res[0].EventID, res[0].ErrorCode, res[0].ErrorMessage, nil
}

// nodeName names this node to the other nodes of a cluster: the same
// across restarts of one data directory.
func (s *Server) nodeName() string {
	host, _ := os.Hostname()
	return host + ":" + s.cfg.DataDir
}
