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

	"github.com/nimbus-platform/nimbus/internal/sandbox"
)

// Argv1 marks the shim's command line: /proc/self/exe Argv1 <binary> [ports].
const Argv1 = "nimbus-go1-shim"

// Command is the argv that runs binary (a path as the instance sees it)
// through the shim. ports, when given, are the loopback ports the shim may
// start the function on, in order: the platform's network rules refuse a
// function every local port it was not given (ADR 0028), the shim's
// connection to the function's own RPC server included. Without them the
// shim picks free ports itself.
func Command(binary string, ports []int) []string {
	argv := []string{"/proc/self/exe", Argv1, binary}
	if len(ports) > 0 {
		list := make([]string, len(ports))
		for i, p := range ports {
			list[i] = strconv.Itoa(p)
		}
		argv = append(argv, strings.Join(list, ","))
	}
	return argv
}

func init() {
	if len(os.Args) < 3 || len(os.Args) > 4 || os.Args[1] != Argv1 {
		return
	}
	pick := freePort
	if len(os.Args) == 4 {
		var err error
		if pick, err = givenPorts(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "go1.x runtime:", err)
			os.Exit(1)
		}
	}
	if err := run(os.Args[2], pick); err != nil {
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

func run(binary string, pick func() (int, error)) error {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return errors.New("AWS_LAMBDA_RUNTIME_API is not set")
	}
	rt := &runtimeAPI{base: "http://" + api + "/2018-06-01/runtime/", client: &http.Client{
		Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true},
	}}
	child, client, exited, err := connect(binary, pick)
	if err != nil {
		errorType := "Runtime.ExitError"
		if errors.Is(err, errStart) {
			errorType = "Runtime.InvalidEntrypoint"
		}
		rt.initError(errorType, err.Error())
		return err
	}
	defer func() { _ = child.Process.Kill() }()
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

// MaxStarts bounds the ports tried when another process holds the one the
// shim picked.
const MaxStarts = 8

var (
	errStart    = errors.New("cannot start the function")
	errSquatted = errors.New("the port is held by another process")
)

// connect starts the function on a port of its own and connects to its RPC
// server. The port is picked by binding and releasing it, so another process
// (another function) could bind it first: it would then receive this
// function's invocations. So the connection is used only once the socket
// that accepted it is known to be held by a process of this instance, and
// when the port turns out to be someone else's, the function is started
// again on another.
func connect(binary string, pick func() (int, error)) (*exec.Cmd, *rpc.Client, <-chan error, error) {
	for attempt := 1; ; attempt++ {
		port, err := pick()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: no free port: %w", errStart, err)
		}
		child, err := startChild(binary, port)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %w", errStart, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- child.Wait() }()
		conn, err := dial(port, child.Process.Pid, exited)
		if err == nil {
			return child, rpc.NewClient(conn), exited, nil
		}
		_ = child.Process.Kill()
		if !errors.Is(err, errSquatted) || attempt == MaxStarts {
			return nil, nil, nil, err
		}
		fmt.Fprintf(os.Stderr, "go1.x runtime: port %d is held by another process; starting the function on another\n", port)
	}
}

// givenPorts returns a picker that hands out list's ports (comma-separated)
// in order, and an error once they are used up.
func givenPorts(list string) (func() (int, error), error) {
	var ports []int
	for _, f := range strings.Split(list, ",") {
		p, err := strconv.Atoi(f)
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("bad port list %q", list)
		}
		ports = append(ports, p)
	}
	return func() (int, error) {
		if len(ports) == 0 {
			return 0, errors.New("every port the platform gave is held by another process")
		}
		p := ports[0]
		ports = ports[1:]
		return p, nil
	}, nil
}

// FreePorts picks n loopback ports that are free now.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		// Held until all are picked, so that the n ports differ.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// freePort picks a loopback port that is free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

// startChild starts the function, telling it to listen on port.
func startChild(binary string, port int) (*exec.Cmd, error) {
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
		return nil, err
	}
	return cmd, nil
}

// dial connects to the function's RPC server once it listens on port, and
// returns the connection only when the socket that accepted it is held by
// the function (pid) or, when the shim is pid 1 of the instance's own pid
// namespace, by any process it can see: all of them are the instance's.
func dial(port, pid int, exited <-chan error) (net.Conn, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			if err := accepted(conn, pid, exited); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		}
		select {
		case err := <-exited:
			if portInUse(port) {
				return nil, fmt.Errorf("%w: the function could not listen on %d: %w", errSquatted, port, err)
			}
			return nil, fmt.Errorf("the function exited before it listened on _LAMBDA_SERVER_PORT: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// accepted waits until the listener accepts conn and returns nil when the
// accepting socket is the instance's. Nothing is written to conn before.
func accepted(conn net.Conn, pid int, exited <-chan error) error {
	for {
		uid, inode, err := sandbox.PeerSocket(conn)
		switch {
		case err != nil:
			// Refused and closed before it was accepted: a listener that
			// went away, which the function's does not do.
			return fmt.Errorf("%w: the socket that answered is gone: %w", errSquatted, err)
		case uid != os.Getuid():
			return fmt.Errorf("%w: a listener of uid %d answered on it", errSquatted, uid)
		case inode != "0":
			if sandbox.HeldBy(inode, instancePids(pid)) {
				return nil
			}
			return fmt.Errorf("%w: a process outside the instance answered on it", errSquatted)
		}
		// Not accepted yet. A listener that never accepts is not the
		// function's: the function cannot bind the port and exits.
		select {
		case err := <-exited:
			return fmt.Errorf("%w: the function exited (%v) while another process listened on its port", errSquatted, err)
		case <-time.After(time.Millisecond):
		}
	}
}

// instancePids lists the processes that belong to this instance as far as
// the shim can tell: every visible one when it is pid 1 of a pid namespace
// of its own (the isolated case), else the function's process.
func instancePids(pid int) []int {
	if os.Getpid() != 1 {
		return []int{pid}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	pids := make([]int, 0, 4)
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// portInUse reports whether a live socket on the host (not one closing, in
// TIME_WAIT or CLOSE) has port as its local port: the function then most
// likely failed to bind it for that reason.
func portInUse(port int) bool {
	suffix := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 3 && strings.HasSuffix(f[1], suffix) && f[3] != "06" && f[3] != "07" {
				return true
			}
		}
	}
	return false
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
