package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/nimbus-platform/nimbus/internal/async"
	"github.com/nimbus-platform/nimbus/internal/events"
	"github.com/nimbus-platform/nimbus/internal/invoke"
	"github.com/nimbus-platform/nimbus/internal/objects"
	"github.com/nimbus-platform/nimbus/internal/queues"
	"github.com/nimbus-platform/nimbus/internal/topics"
)

// objectNotifier delivers the object store's event notifications as S3
// does: to functions as asynchronous invocations (S3 holds a resource
// policy, so no caller permission is asked), to queues and topics, and to
// the default event bus.
type objectNotifier struct{ s *Server }

// startObjectNotifications wires the object store to the event paths and
// starts its dispatcher (stopped with ctx).
func (s *Server) startObjectNotifications(ctx context.Context) {
	s.objects.SetNotifier(objectNotifier{s})
	s.objects.StartNotifications(ctx)
}

func (n objectNotifier) Exists(ctx context.Context, kind objects.TargetKind, arn string) error {
	s := n.s
	switch kind {
	case objects.TargetFunction:
		_, _, err := s.Invoker.Resolve(arn, "")
		return err
	case objects.TargetQueue:
		name, ok := queues.NameFromARN(arn)
		if !ok {
			return fmt.Errorf("%s is not a queue ARN", arn)
		}
		_, err := s.events.queues.Get(ctx, name)
		return err
	case objects.TargetTopic:
		_, err := s.events.topics.Topic(arn)
		return err
	}
	return fmt.Errorf("unknown destination kind %q", kind)
}

func (n objectNotifier) Deliver(ctx context.Context, d objects.Delivery) error {
	s := n.s
	switch d.Kind {
	case objects.TargetFunction:
		_, err := s.Async.Enqueue(ctx, &async.Request{Function: d.ARN, Payload: d.Body})
		var nf *invoke.NotFoundError
		if errors.As(err, &nf) {
			return fmt.Errorf("%w: %v", objects.ErrTargetGone, err)
		}
		return err
	case objects.TargetQueue:
		err := s.events.queues.Sink(ctx, d.ARN, d.Body, nil)
		var qe *queues.Error
		if errors.As(err, &qe) && (qe.Kind == queues.QueueDoesNotExist || qe.Kind == queues.InvalidParameterValue) {
			return fmt.Errorf("%w: %v", objects.ErrTargetGone, err)
		}
		return err
	case objects.TargetTopic:
		err := s.events.topics.Sink(ctx, d.ARN, d.Body, nil)
		var te *topics.Error
		if errors.As(err, &te) && te.Kind == topics.NotFound {
			return fmt.Errorf("%w: %v", objects.ErrTargetGone, err)
		}
		return err
	case objects.TargetEventBridge:
		at := d.Time
		res, err := s.events.bus.PutEvents(ctx, []events.Entry{{Source: "aws.s3", DetailType: d.DetailType, Detail: string(d.Body),
			Resources: []string{"arn:aws:s3:::" + d.Bucket}, Time: &at, AWSService: true}})
		if err != nil {
			return err
		}
		if len(res) == 1 && res[0].ErrorCode != "" {
			return fmt.Errorf("%s: %s", res[0].ErrorCode, res[0].ErrorMessage)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown destination kind %q", objects.ErrTargetGone, d.Kind)
}

// registerBuckets lets deploys create buckets and set their notifications.
// Its hook runs before the other parts' bucket hooks (website settings), so
// the buckets a service declares are created, and recorded as its own, here.
func (s *Server) registerBuckets() {
	s.Registry.OnDeploy(s.objects.DeployHook(s.Registry.Service))
	s.Registry.AddInventory(objects.BucketInventory)
	s.Registry.AfterRemove(s.objects.RemoveService)
}
