package stepfunctions_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/nimbus-platform/nimbus/internal/server"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// TestWaitSurvivesSIGKILL: an execution in a Wait when its platform process
// is killed with SIGKILL resumes when the platform starts again on the same
// data, and ends once: one ExecutionStarted, one ExecutionSucceeded, no
// ExecutionAborted, ids without a gap.
func TestWaitSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a platform process")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nimbus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/nimbus")
	build.Dir = testkit.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nimbus: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, "data")
	var cmd *exec.Cmd
	var log bytes.Buffer
	up := func() {
		t.Helper()
		cmd = exec.Command(bin, "up", "--data", data, "--run-dir", filepath.Join(dir, "run"), "--addr", addr,
			"--http-addr", "", "--no-sandbox", "--log-level", "warn")
		log.Reset()
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("platform did not come up:\n%s", log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	kill := func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
	}
	t.Cleanup(func() {
		if cmd != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				kill()
			}
		}
	})
	up()
	key, err := server.ReadCredentials(data)
	if err != nil {
		t.Fatal(err)
	}
	c := sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""), Retryer: aws.NopRetryer{}, HTTPClient: testkit.HTTPClient()})
	ctx := context.Background()
	def := `{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"n":1},"Next":"W"},"W":{"Type":"Wait","Seconds":3,"Next":"B"},"B":{"Type":"Pass","End":true}}}`
	m, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("sleeper"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), Definition: aws.String(def)})
	if err != nil {
		t.Fatal(err)
	}
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: m.StateMachineArn, Name: aws.String("nap")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.ExecutionArn)
	waitForEvent(t, c, arn, types.HistoryEventTypeWaitStateEntered)
	kill()
	up()
	done := waitDone(t, c, arn)
	if done.Status != types.ExecutionStatusSucceeded || aws.ToString(done.Output) != `{"n":1}` {
		t.Fatalf("after SIGKILL and restart: %+v\n%s", done, log.String())
	}
	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[types.HistoryEventType]int{}
	for i, e := range h.Events {
		count[e.Type]++
		if e.Id != int64(i+1) {
			t.Fatalf("event %d has id %d: %+v", i+1, e.Id, h.Events)
		}
	}
	if count[types.HistoryEventTypeExecutionStarted] != 1 || count[types.HistoryEventTypeExecutionSucceeded] != 1 ||
		count[types.HistoryEventTypeExecutionAborted] != 0 {
		t.Fatalf("history after SIGKILL: %v", count)
	}
}
