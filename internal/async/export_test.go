package async

import (
	"context"

	"github.com/nats-io/nats.go"
)

// EnqueueBatch stores the invocations as one batch message, as the group
// commit does with events accepted at the same time (which otherwise depends
// on timing).
func (s *Service) EnqueueBatch(ctx context.Context, reqs []*Request) error {
	group := make([]*pending, len(reqs))
	for i, req := range reqs {
		msg, _, err := s.message(req)
		if err != nil {
			return err
		}
		group[i] = &pending{msg: msg}
	}
	out := nats.NewMsg(batchSubject)
	out.Data = encodeBatch(group)
	_, err := s.js.PublishMsg(ctx, out)
	return err
}
