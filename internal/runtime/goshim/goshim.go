// Package goshim runs go1.x functions built with aws-lambda-go before v1.18.
// Those binaries do not speak the Runtime API: they listen on the port named
// by _LAMBDA_SERVER_PORT and answer net/rpc calls (Function.Ping,
// Function.Invoke). The shim is the instance's runtime process: it starts the
// binary as its child, takes invocations from the Runtime API and passes each
// one on as an RPC.
//
// The shim is the platform's own executable started again (through
// /proc/self/exe, which resolves inside the instance's private root too) with
// Argv1 as its first argument; an init function recognises it before main, so
// a test binary that runs the platform plays the part as well.
package goshim

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// Argv1 marks the shim's command line: /proc/self/exe Argv1 <binary>.
const Argv1 = "nimbus-go1-shim"

// Command is the argv that runs binary (a path as the instance sees it)
// through the shim.
func Command(binary string) []string { return []string{"/proc/self/exe", Argv1, binary} }

func init() {
	if len(os.Args) != 3 || os.Args[1] != Argv1 {
		return
	}
	if err := run(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "go1.x runtime:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// markers tell the two protocols apart in a Go binary without module
// information: aws-lambda-go v1.18 and later read AWS_LAMBDA_RUNTIME_API,
// earlier versions only the port.
var (
	rpcMarker     = []byte("_LAMBDA_SERVER_PORT")
	runtimeMarker = []byte("AWS_LAMBDA_RUNTIME_API")
)

const lambdaModule = "github.com/aws/aws-lambda-go"

// NeedsShim reports whether the executable at path only speaks the RPC
// protocol of aws-lambda-go before v1.18: by the version of aws-lambda-go
// the binary records, or, for a binary built without modules, by the
// variables its code names.
func NeedsShim(path string) (bool, error) {
	if info, err := buildinfo.ReadFile(path); err == nil {
		for _, dep := range info.Deps {
			if dep.Path == lambdaModule {
				if dep.Replace != nil && dep.Replace.Version != "" {
					dep = dep.Replace
				}
				return beforeRuntimeAPI(dep.Version), nil
			}
		}
		if info.Main.Path == lambdaModule || len(info.Deps) > 0 {
			return false, nil // a module build without aws-lambda-go: its own client
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	return bytes.Contains(data, rpcMarker) && !bytes.Contains(data, runtimeMarker), nil
}

// beforeRuntimeAPI reports whether an aws-lambda-go version (v1.17.0, or a
// pseudo-version) predates v1.18, its first with a Runtime API client.
func beforeRuntimeAPI(version string) bool {
	major, rest, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma == 0 || (ma == 1 && mi < 18)
}

func run(binary string) error {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return errors.New("AWS_LAMBDA_RUNTIME_API is not set")
	}
	rt := &runtimeAPI{base: "http://" + api + "/2018-06-01/runtime/", client: &http.Client{
		Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true},
	}}
	child, port, err := startChild(binary)
	if err != nil {
		rt.initError("Runtime.InvalidEntrypoint", err.Error())
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	defer func() { _ = child.Process.Kill() }()

	client, err := dial(port, exited)
	if err != nil {
		rt.initError("Runtime.ExitError", err.Error())
		return err
	}
	defer client.Close()
	if err := client.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err != nil {
		rt.initError("Runtime.ExitError", "the function did not answer Function.Ping: "+err.Error())
		return err
	}
	for {
		inv, err := rt.next()
		if err != nil {
			return err
		}
		var res messages.InvokeResponse
		call := client.Go("Function.Invoke", inv, &res, make(chan *rpc.Call, 1))
		select {
		case <-call.Done:
		case err := <-exited:
			// The process died under the invocation (os.Exit, a crash).
			msg := fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %v", inv.RequestId, err)
			_ = rt.post("invocation/"+inv.RequestId+"/error", "Runtime.ExitError", errorBody(msg, "Runtime.ExitError", nil))
			return fmt.Errorf("the function exited: %w", err)
		}
		if call.Error != nil {
			msg := fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %v", inv.RequestId, call.Error)
			_ = rt.post("invocation/"+inv.RequestId+"/error", "Runtime.ExitError", errorBody(msg, "Runtime.ExitError", nil))
			return call.Error
		}
		if e := res.Error; e != nil {
			if err := rt.post("invocation/"+inv.RequestId+"/error", e.Type, errorBody(e.Message, e.Type, e.StackTrace)); err != nil {
				return err
			}
			if e.ShouldExit { // a panic: Lambda's go1.x runtime did not reuse the process
				return nil
			}
			continue
		}
		if err := rt.post("invocation/"+inv.RequestId+"/response", "", res.Payload); err != nil {
			return err
		}
	}
}

// startChild starts the function on a free port of its own.
func startChild(binary string) (*exec.Cmd, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(binary)
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		// The function reaches the platform through the shim only.
		if !strings.HasPrefix(kv, "AWS_LAMBDA_RUNTIME_API=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "_LAMBDA_SERVER_PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	return cmd, port, nil
}

// dial connects to the function's RPC server once it listens.
func dial(port int, exited <-chan error) (*rpc.Client, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			return rpc.NewClient(conn), nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the function exited before it listened on _LAMBDA_SERVER_PORT: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

type runtimeAPI struct {
	base   string
	client *http.Client
}

func (r *runtimeAPI) next() (*messages.InvokeRequest, error) {
	resp, err := r.client.Get(r.base + "invocation/next")
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("next: %s: %s", resp.Status, body)
	}
	h := resp.Header
	inv := &messages.InvokeRequest{
		Payload:            body,
		RequestId:          h.Get("Lambda-Runtime-Aws-Request-Id"),
		XAmznTraceId:       h.Get("Lambda-Runtime-Trace-Id"),
		InvokedFunctionArn: h.Get("Lambda-Runtime-Invoked-Function-Arn"),
	}
	if ms, err := strconv.ParseInt(h.Get("Lambda-Runtime-Deadline-Ms"), 10, 64); err == nil {
		inv.Deadline = messages.InvokeRequest_Timestamp{Seconds: ms / 1000, Nanos: (ms % 1000) * int64(time.Millisecond)}
	}
	if cc := h.Get("Lambda-Runtime-Client-Context"); cc != "" {
		inv.ClientContext = []byte(cc)
	}
	if ci := h.Get("Lambda-Runtime-Cognito-Identity"); ci != "" {
		var id struct {
			ID   string `json:"cognitoIdentityId"`
			Pool string `json:"cognitoIdentityPoolId"`
		}
		if json.Unmarshal([]byte(ci), &id) == nil {
			inv.CognitoIdentityId, inv.CognitoIdentityPoolId = id.ID, id.Pool
		}
	}
	return inv, nil
}

// post sends an answer; errorType is "" for a response.
func (r *runtimeAPI) post(path, errorType string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if errorType != "" {
		req.Header.Set("Lambda-Runtime-Function-Error-Type", errorType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("post %s: %s", path, resp.Status)
	}
	return nil
}

func (r *runtimeAPI) initError(errorType, msg string) {
	_ = r.post("init/error", errorType, errorBody(msg, errorType, nil))
}

func errorBody(msg, errorType string, trace []*messages.InvokeResponse_Error_StackFrame) []byte {
	b, _ := json.Marshal(messages.InvokeResponse_Error{Message: msg, Type: errorType, StackTrace: trace})
	return b
}
