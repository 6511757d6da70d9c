package workflows

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestActivityPollEnds: a poll with no task answers an empty task when its
// wait is over, and when its caller goes away; an unknown activity
// is ActivityDoesNotExist.
func TestActivityPollEnds(t *testing.T) {
	s := openService(t, Config{Tasks: echoTasks{}})
	ctx := context.Background()
	a, err := s.CreateActivity(ctx, "idle", nil)
	if err != nil {
		t.Fatal(err)
	}
	task, err := s.GetActivityTask(ctx, a.ARN, "w", 300*time.Millisecond)
	if err != nil || task.Token != "" {
		t.Fatalf("empty poll: %+v %v", task, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	task, err = s.GetActivityTask(cctx, a.ARN, "w", time.Minute)
	if err != nil || task.Token != "" {
		t.Fatalf("poll of a caller gone: %+v %v", task, err)
	}
	_, err = s.GetActivityTask(ctx, s.ActivityARN("missing"), "w", time.Second)
	var we *Error
	if !errors.As(err, &we) || we.Kind != KindActivityNotFound {
		t.Fatalf("unknown activity: %v", err)
	}
}
