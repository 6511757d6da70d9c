package goshim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/rpc"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

// functionEnv makes the test binary play an old go1.x function: aws-lambda-go
// serves net/rpc on _LAMBDA_SERVER_PORT when that variable is set.
const functionEnv = "GOSHIM_TEST_FUNCTION"

func TestMain(m *testing.M) {
	if os.Getenv(functionEnv) == "1" {
		lambda.Start(func(_ context.Context, e map[string]any) (map[string]any, error) {
			return map[string]any{"pid": os.Getpid(), "port": os.Getenv("_LAMBDA_SERVER_PORT"), "event": e}, nil
		})
		return
	}
	os.Exit(m.Run())
}

// squatter listens on a loopback port before the function can and counts
// what it is sent.
type squatter struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  int
	bytes  int
	wg     sync.WaitGroup
	accept bool
}

func squat(t *testing.T, accept bool) *squatter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &squatter{ln: ln, accept: accept}
	if accept {
		s.wg.Add(1)
		go s.serve()
	}
	return s
}

func (s *squatter) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *squatter) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			n, _ := io.Copy(io.Discard, c)
			s.mu.Lock()
			s.conns++
			s.bytes += int(n)
			s.mu.Unlock()
		}()
	}
}

// TestSquattedPortGetsNoInvocations: another process holds the port the shim
// picked (accepting connections, or only listening). The function still gets
// its invocation, on another port, and the squatter is sent nothing.
func TestSquattedPortGetsNoInvocations(t *testing.T) {
	binary, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(functionEnv, "1")
	for _, accept := range []bool{true, false} {
		t.Run("accepting="+strconv.FormatBool(accept), func(t *testing.T) {
			sq := squat(t, accept)
			picks := 0
			pick := func() (int, error) {
				picks++
				if picks == 1 {
					return sq.port(), nil
				}
				return freePort()
			}
			child, client, _, err := connect(binary, pick)
			if err != nil {
				sq.ln.Close()
				t.Fatalf("connect: %v", err)
			}
			defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
			defer client.Close()
			if picks < 2 {
				t.Errorf("the shim picked %d port(s); want a second one after the squatted %d", picks, sq.port())
			}
			// A call that a squatter swallowed would never be answered.
			call := func(method string, args, reply any) error {
				select {
				case c := <-client.Go(method, args, reply, make(chan *rpc.Call, 1)).Done:
					return c.Error
				case <-time.After(30 * time.Second):
					return errors.New("no answer in 30 s")
				}
			}
			if err := call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err != nil {
				t.Fatalf("ping: %v", err)
			}
			var res messages.InvokeResponse
			req := &messages.InvokeRequest{Payload: []byte(`{"order":"o-1"}`), RequestId: "r-1",
				Deadline: messages.InvokeRequest_Timestamp{Seconds: time.Now().Add(time.Minute).Unix()}}
			if err := call("Function.Invoke", req, &res); err != nil || res.Error != nil {
				t.Fatalf("invoke: %v %+v", err, res.Error)
			}
			var out struct {
				Pid   int            `json:"pid"`
				Port  string         `json:"port"`
				Event map[string]any `json:"event"`
			}
			if err := json.Unmarshal(res.Payload, &out); err != nil {
				t.Fatalf("payload %s: %v", res.Payload, err)
			}
			if out.Pid != child.Process.Pid || out.Port == strconv.Itoa(sq.port()) || out.Event["order"] != "o-1" {
				t.Errorf("answered by pid %d on port %s with %v; want the function (pid %d) on a port other than %d",
					out.Pid, out.Port, out.Event, child.Process.Pid, sq.port())
			}
			sq.ln.Close()
			sq.wg.Wait()
			sq.mu.Lock()
			defer sq.mu.Unlock()
			if sq.bytes != 0 {
				t.Errorf("the squatter was sent %d bytes over %d connections", sq.bytes, sq.conns)
			}
		})
	}
}
