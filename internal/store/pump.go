package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Pump hands the messages of a pull consumer's iterator to workers through
// the returned channel, until ctx ends; then it stops the iterator and closes
// the channel. Its goroutines are counted in wg.
func Pump(ctx context.Context, iter jetstream.MessagesContext, wg *sync.WaitGroup, log *slog.Logger, what string) <-chan jetstream.Msg {
	work := make(chan jetstream.Msg)
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		iter.Stop()
	}()
	go func() {
		defer wg.Done()
		defer close(work)
		for {
			m, err := iter.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
					return
				}
				log.Warn(what+" consumer", "err", err)
				continue
			}
			select {
			case work <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return work
}
