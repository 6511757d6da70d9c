package server

import (
	"context"
	"net/http"
	"time"

	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/awsapi/dispatch"
	"github.com/nimbus-platform/nimbus/internal/awsapi/sqs"
	"github.com/nimbus-platform/nimbus/internal/queues"
)

// eventParts are the durable event paths of a node.
type eventParts struct {
	queues *queues.Service
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
	pollers := queues.NewPollers(s.events.queues, s.Invoker, s.Registry, s.log.With("part", "sqs-triggers"))
	ectx, stop := context.WithCancel(context.Background())
	s.stopEvents = stop
	if err := s.events.queues.Start(ectx); err != nil {
		return err
	}
	go pollers.Run(ectx, time.Second)
	return s.Async.Start(ectx)
}

// registerEventAPIs serves SQS (and SNS) on the API listener.
func (s *Server) registerEventAPIs(mux *http.ServeMux) {
	(&dispatch.Dispatcher{SQS: &sqs.API{Queues: s.events.queues}}).Register(mux)
}
