package stepfunctions_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestTwoNodesRunEachExecutionOnce: two nimbus nodes on one NATS server.
// An execution runs on exactly one of them (the node that starts second
// does not resume the first one's), a StopExecution or DeleteStateMachine
// sent to one node stops an execution running on the other, and when a node
// stops, the other resumes its execution once, from its checkpoint.
func TestTwoNodesRunEachExecutionOnce(t *testing.T) {
	ns := testkit.StartNATS(t)
	node := func(c *server.Config) { c.NoSandbox = true; c.NATSURL, c.NATSReplicas = ns.ClientURL(), 1 }
	a := testkit.Start(t, node)
	ca := sfn.NewFromConfig(a.AWSConfig())
	ctx := context.Background()
	create := func(name, def string) *string {
		t.Helper()
		m, err := ca.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), Definition: aws.String(def)})
		if err != nil {
			t.Fatal(err)
		}
		return m.StateMachineArn
	}
	napper := create("napper", `{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"n":1},"Next":"W"},"W":{"Type":"Wait","SecondsPath":"$$.Execution.Input.wait","Next":"B"},"B":{"Type":"Pass","End":true}}}`)
	doomed := create("doomed", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`)
	start := func(c *sfn.Client, m *string, name, input string) string {
		t.Helper()
		out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m, Name: aws.String(name), Input: aws.String(input)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ExecutionArn)
	}
	one := start(ca, napper, "one", `{"wait":4}`)
	waitForEvent(t, ca, one, types.HistoryEventTypeWaitStateEntered)

	// The second node starts while "one" waits on the first: it leaves it.
	b := testkit.JoinNode(t, a, node)
	cb := sfn.NewFromConfig(b.AWSConfig())
	two := start(cb, napper, "two", `{"wait":2}`)
	js := historyReader(t, ns)
	for _, arn := range []string{one, two} {
		if done := waitDone(t, cb, arn); done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"n":1}` {
			t.Fatalf("%s: %+v", arn, done)
		}
		checkOnce(t, cb, js, arn, 1)
	}

	// Stopped through the node that does not run it.
	s1 := start(ca, doomed, "s1", `{}`)
	waitForEvent(t, ca, s1, types.HistoryEventTypeWaitStateEntered)
	if _, err := cb.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(s1), Error: aws.String("Enough"), Cause: aws.String("stopped on b")}); err != nil {
		t.Fatal(err)
	}
	got := waitDone(t, cb, s1)
	if got.Status != types.ExecutionStatusAborted || aws.ToString(got.Error) != "Enough" || aws.ToString(got.Cause) != "stopped on b" {
		t.Fatalf("stopped through the other node: %+v", got)
	}
	h, err := cb.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(s1), ReverseOrder: true})
	if err != nil || h.Events[0].Type != types.HistoryEventTypeExecutionAborted || h.Events[0].ExecutionAbortedEventDetails == nil ||
		aws.ToString(h.Events[0].ExecutionAbortedEventDetails.Error) != "Enough" || aws.ToString(h.Events[0].ExecutionAbortedEventDetails.Cause) != "stopped on b" {
		t.Fatalf("history of the stopped execution: %+v %v", h, err)
	}
	checkOnce(t, cb, js, s1, 0)

	// Deleted through the node that does not run its execution.
	d1 := start(ca, doomed, "d1", `{}`)
	waitForEvent(t, ca, d1, types.HistoryEventTypeWaitStateEntered)
	if _, err := cb.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: doomed}); err != nil {
		t.Fatal(err)
	}
	if got := waitDone(t, cb, d1); got.Status != types.ExecutionStatusAborted {
		t.Fatalf("execution of a machine deleted through the other node: %+v", got)
	}

	// The first node stops while "three" waits: the second resumes it, once.
	three := start(ca, napper, "three", `{"wait":3}`)
	waitForEvent(t, ca, three, types.HistoryEventTypeWaitStateEntered)
	a.Stop()
	if done := waitDone(t, cb, three); done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"n":1}` {
		t.Fatalf("after the first node stopped: %+v", done)
	}
	checkOnce(t, cb, js, three, 1)
}

// waitForEvent polls an execution's history until its last event is typ.
func waitForEvent(t *testing.T, c *sfn.Client, arn string, typ types.HistoryEventType) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := c.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), ReverseOrder: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) > 0 && h.Events[0].Type == typ {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s: %+v", arn, typ, h.Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOnce checks an ended execution's history: one ExecutionStarted, the
// given number of ExecutionSucceeded, no ExecutionAborted unless it was
// stopped, and as many stored messages as events beyond those a resume
// repeats (a second runner would store a second copy of each).
func checkOnce(t *testing.T, c *sfn.Client, js jetstream.Stream, arn string, succeeded int) {
	t.Helper()
	h, err := c.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[types.HistoryEventType]int{}
	for i, e := range h.Events {
		count[e.Type]++
		if e.Id != int64(i+1) {
			t.Fatalf("%s: event %d has id %d", arn, i+1, e.Id)
		}
	}
	// Pages of three read from the store give the same events.
	var paged []types.HistoryEvent
	var token *string
	for {
		p, err := c.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 3, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, p.Events...)
		if token = p.NextToken; token == nil {
			break
		}
		if len(p.Events) != 3 {
			t.Fatalf("%s: a page of %d before the last", arn, len(p.Events))
		}
	}
	if len(paged) != len(h.Events) {
		t.Fatalf("%s: %d events in pages, %d in one", arn, len(paged), len(h.Events))
	}
	for i := range paged {
		if paged[i].Id != h.Events[i].Id || paged[i].Type != h.Events[i].Type {
			t.Fatalf("%s: paged event %d: %+v, want %+v", arn, i, paged[i], h.Events[i])
		}
	}
	aborted := 0
	if succeeded == 0 {
		aborted = 1
	}
	if count[types.HistoryEventTypeExecutionStarted] != 1 || count[types.HistoryEventTypeExecutionSucceeded] != succeeded ||
		count[types.HistoryEventTypeExecutionAborted] != aborted {
		t.Fatalf("%s: history %v", arn, count)
	}
	// A resume repeats the events of the state it resumes (a Wait: its
	// entry); more copies than that mean two runners.
	subj := "workflows.history." + arnTail(arn)
	info, err := js.Info(context.Background(), jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	if stored := info.State.Subjects[subj]; stored > uint64(len(h.Events))+1 {
		t.Fatalf("%s: %d events stored for %d in the history: more than one runner", arn, stored, len(h.Events))
	}
}

// arnTail is "<machine>.<name>" of an execution ARN.
func arnTail(arn string) string {
	var parts []string
	for i, j := 0, 0; j <= len(arn); j++ {
		if j == len(arn) || arn[j] == ':' {
			parts = append(parts, arn[i:j])
			i = j + 1
		}
	}
	return parts[len(parts)-2] + "." + parts[len(parts)-1]
}

func historyReader(t *testing.T, ns *natsserver.Server) jetstream.Stream {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "WORKFLOW_HISTORY")
	if err != nil {
		t.Fatal(err)
	}
	return st
}
