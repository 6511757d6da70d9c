package stepfunctions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

const activityMachine = `{"StartAt":"Review","States":{"Review":{"Type":"Task","Resource":"%s","HeartbeatSeconds":120,"TimeoutSeconds":300,
	"Catch":[{"ErrorEquals":["Rejected"],"ResultPath":"$.rejected","Next":"Done"}],"ResultPath":"$.review","Next":"Done"},"Done":{"Type":"Succeed"}}}`

// historyTypes lists an execution's event types.
func historyTypes(t *testing.T, c *sfn.Client, arn string) ([]types.HistoryEvent, map[types.HistoryEventType]int) {
	t.Helper()
	h, err := c.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[types.HistoryEventType]int{}
	for _, e := range h.Events {
		count[e.Type]++
	}
	return h.Events, count
}

// TestActivityWorkers: Go workers poll an activity with GetActivityTask
// while executions wait on it; each task goes to one worker, which sends a
// heartbeat and then success (or a failure that the machine's Catch
// takes). The history has ActivityScheduled, ActivityStarted with the
// worker's name and ActivitySucceeded/Failed. The activity operations
// answer as AWS's do.
func TestActivityWorkers(t *testing.T) {
	p := testkit.Start(t, nil)
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	act, err := c.CreateActivity(ctx, &sfn.CreateActivityInput{Name: aws.String("review")})
	if err != nil {
		t.Fatal(err)
	}
	if arn := aws.ToString(act.ActivityArn); arn != "arn:aws:states:us-east-1:000000000000:activity:review" {
		t.Fatalf("activity ARN %s", arn)
	}
	again, err := c.CreateActivity(ctx, &sfn.CreateActivityInput{Name: aws.String("review")})
	if err != nil || aws.ToString(again.ActivityArn) != aws.ToString(act.ActivityArn) {
		t.Fatalf("CreateActivity again: %v %v", again, err)
	}
	m, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("reviewing"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		Definition: aws.String(fmt.Sprintf(activityMachine, aws.ToString(act.ActivityArn)))})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	var arns []string
	for i := range n {
		start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Input: aws.String(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(start.ExecutionArn))
	}
	// Two workers share the tasks; n = 3 is rejected.
	var mu sync.Mutex
	seen := map[int]string{}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("worker-%d", w)
			for {
				mu.Lock()
				done := len(seen) == n
				mu.Unlock()
				if done {
					return
				}
				task, err := c.GetActivityTask(ctx, &sfn.GetActivityTaskInput{ActivityArn: act.ActivityArn, WorkerName: aws.String(name)})
				if err != nil {
					t.Errorf("GetActivityTask: %v", err)
					return
				}
				if task.TaskToken == nil {
					continue
				}
				var in struct{ N int }
				if err := json.Unmarshal([]byte(aws.ToString(task.Input)), &in); err != nil {
					t.Errorf("task input %q: %v", aws.ToString(task.Input), err)
					return
				}
				mu.Lock()
				if prev, dup := seen[in.N]; dup {
					t.Errorf("task %d handed to %s and %s", in.N, prev, name)
				}
				seen[in.N] = name
				mu.Unlock()
				if _, err := c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: task.TaskToken}); err != nil {
					t.Errorf("heartbeat: %v", err)
				}
				if in.N == 3 {
					_, err = c.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: task.TaskToken, Error: aws.String("Rejected"), Cause: aws.String("too big")})
				} else {
					_, err = c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: task.TaskToken, Output: aws.String(fmt.Sprintf(`{"by":%q,"n":%d}`, name, in.N))})
				}
				if err != nil {
					t.Errorf("send: %v", err)
				}
			}
		}()
	}
	for i, arn := range arns {
		d := waitDone(t, c, arn)
		out := aws.ToString(d.Output)
		if d.Status != types.ExecutionStatusSucceeded {
			t.Fatalf("execution %d: %s %s %s", i, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		if i == 3 {
			if !strings.Contains(out, `"rejected":{"Cause":"too big","Error":"Rejected"}`) {
				t.Fatalf("execution 3 output %s", out)
			}
		} else if !strings.Contains(out, fmt.Sprintf(`"n":%d}`, i)) || !strings.Contains(out, `"by":"worker-`) {
			t.Fatalf("execution %d output %s", i, out)
		}
		events, count := historyTypes(t, c, arn)
		want := types.HistoryEventTypeActivitySucceeded
		if i == 3 {
			want = types.HistoryEventTypeActivityFailed
		}
		if count[types.HistoryEventTypeActivityScheduled] != 1 || count[types.HistoryEventTypeActivityStarted] != 1 || count[want] != 1 ||
			count[types.HistoryEventTypeTaskScheduled] != 0 {
			t.Fatalf("execution %d history: %v", i, count)
		}
		for _, e := range events {
			if e.Type == types.HistoryEventTypeActivityStarted && !strings.HasPrefix(aws.ToString(e.ActivityStartedEventDetails.WorkerName), "worker-") {
				t.Fatalf("ActivityStarted without the worker's name: %+v", e.ActivityStartedEventDetails)
			}
			if e.Type == types.HistoryEventTypeActivityScheduled && (aws.ToString(e.ActivityScheduledEventDetails.Resource) != aws.ToString(act.ActivityArn) ||
				aws.ToInt64(e.ActivityScheduledEventDetails.HeartbeatInSeconds) != 120) {
				t.Fatalf("ActivityScheduled: %+v", e.ActivityScheduledEventDetails)
			}
		}
	}
	wg.Wait()

	d, err := c.DescribeActivity(ctx, &sfn.DescribeActivityInput{ActivityArn: act.ActivityArn})
	if err != nil || aws.ToString(d.Name) != "review" || d.CreationDate == nil {
		t.Fatalf("DescribeActivity: %+v %v", d, err)
	}
	l, err := c.ListActivities(ctx, &sfn.ListActivitiesInput{})
	if err != nil || len(l.Activities) != 1 || aws.ToString(l.Activities[0].Name) != "review" {
		t.Fatalf("ListActivities: %+v %v", l, err)
	}
	if _, err := c.DeleteActivity(ctx, &sfn.DeleteActivityInput{ActivityArn: act.ActivityArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeActivity(ctx, &sfn.DescribeActivityInput{ActivityArn: act.ActivityArn}); apiCode(err) != "ActivityDoesNotExist" {
		t.Fatalf("deleted activity: %v", err)
	}
	if _, err := c.GetActivityTask(ctx, &sfn.GetActivityTaskInput{ActivityArn: act.ActivityArn}); apiCode(err) != "ActivityDoesNotExist" {
		t.Fatalf("GetActivityTask of a deleted activity: %v", err)
	}
	if _, err := c.DescribeActivity(ctx, &sfn.DescribeActivityInput{ActivityArn: aws.String("arn:aws:states:eu-west-1:000000000000:activity:review")}); apiCode(err) != "InvalidArn" {
		t.Fatalf("another region's activity: %v", err)
	}
}

// TestActivityTaskSurvivesRestart: a task handed to a worker before the
// platform restarts is completed by that worker after it; a task scheduled
// but not yet taken is handed out after the restart. Each task is started
// and succeeds once (the resumed state is entered, and its activity
// scheduled, again: the state runs again from its beginning) and each
// execution ends once.
func TestActivityTaskSurvivesRestart(t *testing.T) {
	p := testkit.Start(t, nil)
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	act, err := c.CreateActivity(ctx, &sfn.CreateActivityInput{Name: aws.String("slow")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("slow"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		Definition: aws.String(fmt.Sprintf(activityMachine, aws.ToString(act.ActivityArn)))})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for i := range 2 {
		start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Input: aws.String(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(start.ExecutionArn))
	}
	taken, err := c.GetActivityTask(ctx, &sfn.GetActivityTaskInput{ActivityArn: act.ActivityArn, WorkerName: aws.String("before")})
	if err != nil || taken.TaskToken == nil {
		t.Fatalf("GetActivityTask: %+v %v", taken, err)
	}
	p = p.Restart()
	c = sfn.NewFromConfig(p.AWSConfig())
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: taken.TaskToken, Output: aws.String(`{"worker":"before"}`)}); err != nil {
		t.Fatalf("SendTaskSuccess after restart: %v", err)
	}
	other, err := c.GetActivityTask(ctx, &sfn.GetActivityTaskInput{ActivityArn: act.ActivityArn, WorkerName: aws.String("after")})
	if err != nil || other.TaskToken == nil || aws.ToString(other.Input) == aws.ToString(taken.Input) {
		t.Fatalf("GetActivityTask after restart: %+v %v (first %s)", other, err, aws.ToString(taken.Input))
	}
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: other.TaskToken, Output: aws.String(`{"worker":"after"}`)}); err != nil {
		t.Fatal(err)
	}
	for _, arn := range arns {
		d := waitDone(t, c, arn)
		if d.Status != types.ExecutionStatusSucceeded || !strings.Contains(aws.ToString(d.Output), `"worker"`) {
			t.Fatalf("%s: %s %s %s", arn, d.Status, aws.ToString(d.Output), aws.ToString(d.Cause))
		}
		_, count := historyTypes(t, c, arn)
		if count[types.HistoryEventTypeActivityStarted] != 1 || count[types.HistoryEventTypeActivitySucceeded] != 1 ||
			count[types.HistoryEventTypeExecutionSucceeded] != 1 {
			ev, _ := historyTypes(t, c, arn)
			for _, e := range ev {
				t.Logf("%d %d %s", e.Id, e.PreviousEventId, e.Type)
			}
			t.Fatalf("%s history: %v", arn, count)
		}
	}
}

// TestActivityTasksSurviveSIGKILL: the platform is killed with SIGKILL
// while one activity task is out with a worker and another waits to be
// taken; after a restart the first worker's SendTaskSuccess completes its
// execution and the second task is handed out, so both executions end
// once, each with the output its worker sent.
func TestActivityTasksSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	p := testkit.NewChild(t)
	p.Start()
	c := sfn.NewFromConfig(p.AWSConfig())
	ctx := context.Background()
	act, err := c.CreateActivity(ctx, &sfn.CreateActivityInput{Name: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("durable"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		Definition: aws.String(fmt.Sprintf(activityMachine, aws.ToString(act.ActivityArn)))})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for i := range 2 {
		start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Name: aws.String(fmt.Sprintf("e%d", i)),
			Input: aws.String(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(start.ExecutionArn))
	}
	first, err := c.GetActivityTask(ctx, &sfn.GetActivityTaskInput{ActivityArn: act.ActivityArn, WorkerName: aws.String("w")})
	if err != nil || first.TaskToken == nil {
		t.Fatalf("GetActivityTask: %+v %v", first, err)
	}
	// The second task is scheduled once its ActivityScheduled is stored.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, count := historyTypes(t, c, arns[0])
		_, count2 := historyTypes(t, c, arns[1])
		if count[types.HistoryEventTypeActivityScheduled]+count2[types.HistoryEventTypeActivityScheduled] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second task was not scheduled")
		}
	}
	p.Kill()
	p.Start()
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: first.TaskToken, Output: aws.String(`{"first":true}`)}); err != nil {
		t.Fatalf("SendTaskSuccess after SIGKILL: %v\n%s", err, p.Log())
	}
	second, err := c.GetActivityTask(ctx, &sfn.GetActivityTaskInput{ActivityArn: act.ActivityArn, WorkerName: aws.String("w")})
	if err != nil || second.TaskToken == nil || aws.ToString(second.Input) == aws.ToString(first.Input) {
		t.Fatalf("GetActivityTask after SIGKILL: %+v %v\n%s", second, err, p.Log())
	}
	if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: second.TaskToken, Output: aws.String(`{"second":true}`)}); err != nil {
		t.Fatal(err)
	}
	var outputs string
	for _, arn := range arns {
		d := waitDone(t, c, arn)
		if d.Status != types.ExecutionStatusSucceeded {
			t.Fatalf("%s: %s %s\n%s", arn, d.Status, aws.ToString(d.Cause), p.Log())
		}
		outputs += aws.ToString(d.Output)
		_, count := historyTypes(t, c, arn)
		if count[types.HistoryEventTypeActivitySucceeded] != 1 || count[types.HistoryEventTypeExecutionSucceeded] != 1 {
			t.Fatalf("%s history: %v", arn, count)
		}
	}
	if !strings.Contains(outputs, `"review":{"first":true}`) || !strings.Contains(outputs, `"review":{"second":true}`) {
		t.Fatalf("outputs: %s", outputs)
	}
}
