package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nimbus-platform/nimbus/internal/auth"
)

// Service integrations: the optimized ones (arn:aws:states:::sqs:sendMessage,
// sns:publish, events:putEvents, dynamodb:getItem/putItem/updateItem/
// deleteItem) and the AWS SDK ones (arn:aws:states:::aws-sdk:<service>:
// <action>). Each call is an AWS API request served in process by the
// platform's own edge (SetAPI), the same code that serves SDK clients, as a
// session of the machine's role: the edge's IAM check is the role's.

// AWSSDKPrefix starts the resource of an AWS SDK integration.
const AWSSDKPrefix = "arn:aws:states:::aws-sdk:"

// sdkService is how an AWS SDK service name is called on the edge.
type sdkService struct {
	errPrefix string // the service's name in error names (PascalCase)
	target    string // X-Amz-Target prefix of a JSON-protocol service
	jsonType  string // its content type
	query     bool   // a query-protocol service (form in, XML out)
	camel     bool   // the wire's member names are camelCase (Step Functions)
}

// sdkServices are the services nimbus has, by their name in aws-sdk
// resources.
var sdkServices = map[string]sdkService{
	"dynamodb":    {errPrefix: "DynamoDb", target: "DynamoDB_20120810.", jsonType: "application/x-amz-json-1.0"},
	"sqs":         {errPrefix: "Sqs", target: "AmazonSQS.", jsonType: "application/x-amz-json-1.0"},
	"eventbridge": {errPrefix: "EventBridge", target: "AWSEvents.", jsonType: "application/x-amz-json-1.1"},
	"sfn":         {errPrefix: "Sfn", target: "AWSStepFunctions.", jsonType: "application/x-amz-json-1.0", camel: true},
	"kinesis":     {errPrefix: "Kinesis", target: "Kinesis_20131202.", jsonType: "application/x-amz-json-1.1"},
	"sns":         {errPrefix: "Sns", query: true},
}

// optimized is an optimized integration: the service and action it calls,
// the prefix of its error names, and the exceptions the service's Java SDK
// (v1, which Step Functions' optimized integrations report through) models;
// any other error is <prefix>.<generic>.
type optimized struct {
	service, action, errPrefix, generic string
	modeled                             map[string]bool
	token                               bool // supports .waitForTaskToken
}

var (
	dynamoModeled = map[string]bool{"ConditionalCheckFailedException": true, "ResourceNotFoundException": true,
		"ProvisionedThroughputExceededException": true, "ItemCollectionSizeLimitExceededException": true,
		"TransactionConflictException": true, "RequestLimitExceeded": true, "InternalServerError": true}
	optimizedIntegrations = map[string]optimized{
		"arn:aws:states:::sqs:sendMessage": {service: "sqs", action: "SendMessage", errPrefix: "SQS", generic: "AmazonSQSException", token: true,
			modeled: map[string]bool{"QueueDoesNotExistException": true, "InvalidMessageContentsException": true, "UnsupportedOperationException": true}},
		"arn:aws:states:::sns:publish": {service: "sns", action: "Publish", errPrefix: "SNS", generic: "AmazonSNSException", token: true,
			modeled: map[string]bool{"NotFoundException": true, "InvalidParameterException": true, "AuthorizationErrorException": true, "InternalErrorException": true}},
		"arn:aws:states:::events:putEvents": {service: "eventbridge", action: "PutEvents", errPrefix: "EventBridge", generic: "AmazonEventBridgeException", token: true,
			modeled: map[string]bool{"InternalException": true}},
		"arn:aws:states:::dynamodb:getItem":    {service: "dynamodb", action: "GetItem", errPrefix: "DynamoDB", generic: "AmazonDynamoDBException", modeled: dynamoModeled},
		"arn:aws:states:::dynamodb:putItem":    {service: "dynamodb", action: "PutItem", errPrefix: "DynamoDB", generic: "AmazonDynamoDBException", modeled: dynamoModeled},
		"arn:aws:states:::dynamodb:updateItem": {service: "dynamodb", action: "UpdateItem", errPrefix: "DynamoDB", generic: "AmazonDynamoDBException", modeled: dynamoModeled},
		"arn:aws:states:::dynamodb:deleteItem": {service: "dynamodb", action: "DeleteItem", errPrefix: "DynamoDB", generic: "AmazonDynamoDBException", modeled: dynamoModeled},
	}
)

// IsIntegration reports whether resource (without .waitForTaskToken) is a
// service integration this file runs.
func IsIntegration(resource string) bool {
	if _, ok := optimizedIntegrations[resource]; ok {
		return true
	}
	return strings.HasPrefix(resource, AWSSDKPrefix)
}

// SetAPI gives the service the platform's AWS API handler (before its
// signature check) that integrations call; tasks resumed before it is set
// wait for it.
func (s *Service) SetAPI(h http.Handler) {
	s.apiOnce.Do(func() {
		s.api = h
		close(s.apiReady)
	})
}

func (s *Service) awsAPI(ctx context.Context) (http.Handler, error) {
	select {
	case <-s.apiReady:
		return s.api, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// integrationTasks runs service integrations and passes other tasks on.
type integrationTasks struct {
	s    *Service
	next TaskRunner
}

func (t integrationTasks) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	if o, ok := optimizedIntegrations[req.Resource]; ok {
		return t.s.runOptimized(ctx, req, o)
	}
	if strings.HasPrefix(req.Resource, AWSSDKPrefix) {
		return t.s.runSDK(ctx, req)
	}
	if t.next == nil {
		return nil, &Failure{Name: ErrRuntime, Cause: "no task runner for " + req.Resource}
	}
	return t.next.RunTask(ctx, req)
}

// apiError is an error answer of an edge.
type apiError struct {
	status        int
	code, message string
	requestID     string
}

// runOptimized runs an optimized integration: Parameters as the action
// takes them (a MessageBody, Message or Detail given as JSON is sent as its
// text), the answer as the service gives it with the Java SDK's metadata.
func (s *Service) runOptimized(ctx context.Context, req TaskRequest, o optimized) (json.RawMessage, error) {
	var params map[string]any
	if err := decodeInto(req.Input, &params); err != nil || params == nil {
		return nil, &Failure{Name: ErrRuntime, Cause: fmt.Sprintf("%s needs Parameters that are a JSON object", req.Resource)}
	}
	switch o.action {
	case "SendMessage":
		textField(params, "MessageBody")
	case "Publish":
		textField(params, "Message")
	case "PutEvents":
		if entries, ok := params["Entries"].([]any); ok {
			for _, e := range entries {
				if m, ok := e.(map[string]any); ok {
					textField(m, "Detail")
				}
			}
		}
	}
	out, reqID, aerr, err := s.callAWS(ctx, req, o.service, o.action, params)
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		code := withException(aerr.code)
		if !o.modeled[code] {
			code = o.generic
		}
		return nil, &Failure{Name: o.errPrefix + "." + code, Cause: fmt.Sprintf("%s (Service: %s; Status Code: %d; Error Code: %s; Request ID: %s; Proxy: null)",
			aerr.message, javaServiceName(o.service), aerr.status, aerr.code, aerr.requestID)}
	}
	if o.action == "PutEvents" {
		// Step Functions fails the task when an entry was not put.
		if n, _ := out["FailedEntryCount"].(json.Number); n != "" && n != "0" {
			cause, _ := json.Marshal(out)
			return nil, &Failure{Name: "EventBridge.FailedEntry", Cause: string(cause)}
		}
		return json.Marshal(out)
	}
	out["SdkHttpMetadata"] = map[string]any{"HttpStatusCode": 200, "HttpHeaders": map[string]any{"x-amzn-RequestId": reqID}}
	out["SdkResponseMetadata"] = map[string]any{"RequestId": reqID}
	return json.Marshal(out)
}

// runSDK runs arn:aws:states:::aws-sdk:<service>:<action>: Parameters and
// answer in the SDK's PascalCase shapes, errors <Service>.<Code>Exception.
func (s *Service) runSDK(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	svc, action, _ := strings.Cut(strings.TrimPrefix(req.Resource, AWSSDKPrefix), ":")
	if svc == "lambda" && action == "invoke" {
		sub := req
		sub.Resource = LambdaInvokeResource
		if err := s.mayInvoke(ctx, sub); err != nil {
			return nil, err
		}
		return s.cfg.Tasks.RunTask(ctx, sub)
	}
	spec, ok := sdkServices[svc]
	if !ok || action == "" || strings.ContainsAny(action, ".:") {
		return nil, &Failure{Name: ErrRuntime, Cause: fmt.Sprintf("the resource %s is not supported by nimbus (its AWS SDK integrations are dynamodb, sqs, sns, eventbridge, kinesis, sfn and lambda:invoke)", req.Resource)}
	}
	var params map[string]any
	if len(req.Input) > 0 && string(req.Input) != "null" {
		if err := decodeInto(req.Input, &params); err != nil {
			return nil, &Failure{Name: ErrRuntime, Cause: fmt.Sprintf("%s needs Parameters that are a JSON object", req.Resource)}
		}
	}
	if params == nil {
		params = map[string]any{}
	}
	out, _, aerr, err := s.callAWS(ctx, req, svc, pascal(action), params)
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, &Failure{Name: spec.errPrefix + "." + withException(aerr.code), Cause: fmt.Sprintf("%s (Service: %s, Status Code: %d, Request ID: %s)",
			aerr.message, spec.errPrefix, aerr.status, aerr.requestID)}
	}
	return json.Marshal(out)
}

// callAWS makes one AWS API call on the platform's edge as a session of the
// execution's role and decodes its answer.
func (s *Service) callAWS(ctx context.Context, req TaskRequest, service, action string, params map[string]any) (map[string]any, string, *apiError, error) {
	h, err := s.awsAPI(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	spec := sdkServices[service]
	p, err := s.rolePrincipal(ctx, req.Execution)
	if err != nil {
		return nil, "", nil, err
	}
	var hr *http.Request
	if spec.query {
		form := url.Values{"Action": {action}, "Version": {"2010-03-31"}}
		flattenQuery(form, "", params)
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(form.Encode()))
		if err != nil {
			return nil, "", nil, err
		}
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	} else {
		var body any = params
		if spec.camel {
			body = recase(params, unicode.ToLower)
		}
		data, err := json.Marshal(body)
		if err != nil {
			return nil, "", nil, err
		}
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(data))
		if err != nil {
			return nil, "", nil, err
		}
		hr.Header.Set("Content-Type", spec.jsonType)
		hr.Header.Set("X-Amz-Target", spec.target+action)
	}
	hr.Host = "localhost"
	hr.RemoteAddr = "127.0.0.1:0"
	hr = hr.WithContext(auth.WithPrincipal(ctx, p, true, time.Now()))
	rec := &apiRecorder{header: http.Header{}}
	h.ServeHTTP(rec, hr)
	if ctx.Err() != nil {
		return nil, "", nil, ctx.Err()
	}
	reqID := rec.header.Get("X-Amzn-Requestid")
	if reqID == "" {
		reqID = rec.header.Get("X-Amz-Request-Id")
	}
	if reqID == "" {
		reqID = newID()
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if spec.query {
		return decodeQuery(status, rec.body.Bytes(), reqID)
	}
	if status >= 300 {
		var e struct {
			Type     string `json:"__type"`
			Message  string `json:"message"`
			Message2 string `json:"Message"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		code := e.Type
		if i := strings.LastIndexByte(code, '#'); i >= 0 {
			code = code[i+1:]
		}
		if code == "" {
			code = "InternalFailure"
		}
		msg := e.Message
		if msg == "" {
			msg = e.Message2
		}
		return nil, reqID, &apiError{status: status, code: code, message: msg, requestID: reqID}, nil
	}
	out := map[string]any{}
	if rec.body.Len() > 0 {
		if err := decodeInto(rec.body.Bytes(), &out); err != nil {
			return nil, "", nil, fmt.Errorf("%s %s answer: %w", service, action, err)
		}
	}
	if spec.camel {
		out, _ = recase(out, unicode.ToUpper).(map[string]any)
	}
	return out, reqID, nil, nil
}

// rolePrincipal is the session of the execution's role that calls
// services: the statements its deploy declared, else the role
// serverless-step-functions would generate, modelled as every action of
// the integrated services (impliedRole).
func (s *Service) rolePrincipal(ctx context.Context, ex ExecutionInfo) (*auth.Principal, error) {
	policy, declared := auth.Policy(nil), false
	if ex.StateMachineName != "" {
		var err error
		if policy, declared, err = s.rolePolicy(ctx, ex.StateMachineName); err != nil {
			return nil, err
		}
	}
	if !declared {
		policy = s.impliedRole
	}
	role := "StatesExecutionRole"
	if i := strings.LastIndexByte(ex.RoleARN, '/'); i >= 0 && i < len(ex.RoleARN)-1 {
		role = ex.RoleARN[i+1:]
	}
	session := ex.Name
	if len(session) > 64 {
		session = session[:64]
	}
	if session == "" {
		session = "states"
	}
	return auth.RolePrincipal(s.cfg.AccountID, role, session, policy), nil
}

// impliedActions are what a machine without declared role statements may
// do through its integrations.
var impliedActions = []string{"sqs:*", "sns:*", "events:*", "dynamodb:*", "kinesis:*", "states:*", "lambda:InvokeFunction"}

func impliedRolePolicy() auth.Policy {
	p, err := auth.ParseStatements(mustJSON([]map[string]any{{"Effect": "Allow", "Action": impliedActions, "Resource": "*"}}))
	if err != nil {
		panic(err) // a constant
	}
	return p
}

// apiRecorder keeps an in-process answer.
type apiRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *apiRecorder) Header() http.Header { return r.header }
func (r *apiRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *apiRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// decodeInto decodes keeping numbers as written.
func decodeInto(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}

// textField turns m[k], when it is not a string, into its JSON text.
func textField(m map[string]any, k string) {
	v, ok := m[k]
	if !ok {
		return
	}
	if _, isText := v.(string); isText {
		return
	}
	data, _ := json.Marshal(v)
	m[k] = string(data)
}

// withException adds the Exception suffix Step Functions puts on every
// error name (S3's NoSuchKey is S3.NoSuchKeyException).
func withException(code string) string {
	if i := strings.LastIndexByte(code, '.'); i >= 0 {
		code = code[i+1:] // AWS.SimpleQueueService.NonExistentQueue
	}
	if code == "NonExistentQueue" {
		code = "QueueDoesNotExist"
	}
	if strings.HasSuffix(code, "Exception") || code == "RequestLimitExceeded" || code == "InternalServerError" {
		return code
	}
	return code + "Exception"
}

func javaServiceName(svc string) string {
	switch svc {
	case "sqs":
		return "AmazonSQS"
	case "sns":
		return "AmazonSNS"
	case "dynamodb":
		return "AmazonDynamoDBv2"
	case "eventbridge":
		return "AmazonEventBridge"
	}
	return svc
}

// pascal is an action's API name: putItem → PutItem.
func pascal(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// recase changes the first letter of every object member name.
func recase(v any, to func(rune) rune) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, n := utf8.DecodeRuneInString(k)
			out[string(to(r))+k[n:]] = recase(e, to)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = recase(e, to)
		}
		return out
	}
	return v
}

// flattenQuery writes params as the query protocol does: members by dotted
// names, lists as .member.N, maps (MessageAttributes, Attributes, Tags) as
// .entry.N.Name/.Value (SNS's shapes).
func flattenQuery(form url.Values, prefix string, v any) {
	switch x := v.(type) {
	case map[string]any:
		if prefix != "" && isQueryMap(prefix) {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			name, value := "Name", "Value"
			if !strings.HasSuffix(prefix, "MessageAttributes") {
				name, value = "key", "value"
			}
			for i, k := range keys {
				p := prefix + ".entry." + strconv.Itoa(i+1)
				form.Set(p+"."+name, k)
				flattenQuery(form, p+"."+value, x[k])
			}
			return
		}
		for k, e := range x {
			if prefix != "" {
				k = prefix + "." + k
			}
			flattenQuery(form, k, e)
		}
	case []any:
		for i, e := range x {
			flattenQuery(form, prefix+".member."+strconv.Itoa(i+1), e)
		}
	case string:
		form.Set(prefix, x)
	case nil:
	default:
		data, _ := json.Marshal(x)
		form.Set(prefix, string(data))
	}
}

func isQueryMap(name string) bool {
	return strings.HasSuffix(name, "MessageAttributes") || strings.HasSuffix(name, "Attributes")
}

// decodeQuery reads a query-protocol answer: <ActionResponse><ActionResult>
// as JSON (elements with children as objects, member lists as arrays), or
// <ErrorResponse><Error><Code>.
func decodeQuery(status int, body []byte, reqID string) (map[string]any, string, *apiError, error) {
	root, err := parseXML(body)
	if err != nil {
		return nil, "", nil, fmt.Errorf("query answer: %w", err)
	}
	if status >= 300 || root.name == "ErrorResponse" {
		e := root.child("Error")
		code, msg := "InternalFailure", ""
		if e != nil {
			if c := e.child("Code"); c != nil {
				code = c.text
			}
			if m := e.child("Message"); m != nil {
				msg = m.text
			}
		}
		if id := root.child("RequestId"); id != nil && id.text != "" {
			reqID = id.text
		}
		return nil, reqID, &apiError{status: status, code: code, message: msg, requestID: reqID}, nil
	}
	if md := root.child("ResponseMetadata"); md != nil {
		if id := md.child("RequestId"); id != nil && id.text != "" {
			reqID = id.text
		}
	}
	out := map[string]any{}
	for _, c := range root.children {
		if strings.HasSuffix(c.name, "Result") {
			if m, ok := c.value().(map[string]any); ok {
				out = m
			}
		}
	}
	return out, reqID, nil, nil
}

type xmlNode struct {
	name     string
	text     string
	children []*xmlNode
}

func (n *xmlNode) child(name string) *xmlNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *xmlNode) value() any {
	if len(n.children) == 0 {
		return n.text
	}
	if n.children[0].name == "member" {
		list := make([]any, len(n.children))
		for i, c := range n.children {
			list[i] = c.value()
		}
		return list
	}
	m := make(map[string]any, len(n.children))
	for _, c := range n.children {
		m[c.name] = c.value()
	}
	return m
}

func parseXML(data []byte) (*xmlNode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: t.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no XML element")
	}
	return root, nil
}
