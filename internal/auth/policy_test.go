package auth

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Cases after the examples of IAM's documentation (policy evaluation logic,
// NotAction/NotResource, condition operators), with nimbus's ARNs.
func TestEvaluate(t *testing.T) {
	const queue = "arn:aws:sqs:us-east-1:000000000000:orders"
	fnArn := "arn:aws:sts::000000000000:assumed-role/shop-dev-us-east-1-lambdaRole/shop-dev-worker"
	ctx := map[string]string{"aws:PrincipalArn": fnArn, "aws:SecureTransport": "false", "aws:CurrentTime": "2026-06-01T12:00:00Z",
		"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:orders-topic"}
	cases := []struct {
		name     string
		policy   string
		action   string
		resource string
		want     Decision
	}{
		{"allow by action and resource", `[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"` + queue + `"}]`, "sqs:SendMessage", queue, Allow},
		{"nothing matches: implicit deny", `[{"Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"` + queue + `"}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"empty policy: implicit deny", `[]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"explicit deny beats allow", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"sqs:SendMessage","Resource":"` + queue + `"}]`, "sqs:SendMessage", queue, ExplicitDeny},
		{"deny elsewhere leaves allow", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"sqs:DeleteQueue","Resource":"*"}]`, "sqs:SendMessage", queue, Allow},
		{"actions ignore case", `[{"Effect":"Allow","Action":"SQS:sendmessage","Resource":"*"}]`, "sqs:SendMessage", queue, Allow},
		{"resources keep case", `[{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:us-east-1:000000000000:Orders"}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"action wildcard", `[{"Effect":"Allow","Action":"sqs:Send*","Resource":"*"}]`, "sqs:SendMessage", queue, Allow},
		{"action wildcard does not reach other services", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]`, "sns:Publish", "*", ImplicitDeny},
		{"? is one character", `[{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:order?"}]`, "sqs:SendMessage", queue, Allow},
		{"? is not two characters", `[{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:order?"}]`, "sqs:SendMessage", queue + "-dlq", ImplicitDeny},
		{"* within one ARN part", `[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:*:*:function:shop-*"}]`, "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:000000000000:function:shop-dev-a", Allow},
		{"unqualified ARN does not cover a qualifier", `[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f"}]`, "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST", ImplicitDeny},
		{"NotAction allows the rest (PowerUser)", `[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]`, "sqs:SendMessage", queue, Allow},
		{"NotAction leaves its actions denied", `[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]`, "iam:CreateUser", "*", ImplicitDeny},
		{"deny with NotResource spares the listed", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"sqs:*","NotResource":"` + queue + `"}]`, "sqs:SendMessage", queue, Allow},
		{"deny with NotResource hits the rest", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"sqs:*","NotResource":"` + queue + `"}]`, "sqs:SendMessage", queue + "-other", ExplicitDeny},
		{"StringEquals on the principal", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"` + fnArn + `"}}}]`, "sqs:SendMessage", queue, Allow},
		{"StringEquals values are OR'd", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":["arn:aws:iam::000000000000:user/x","` + fnArn + `"]}}}]`, "sqs:SendMessage", queue, Allow},
		{"condition keys are AND'ed", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"` + fnArn + `","aws:SecureTransport":"true"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"condition key names ignore case", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEquals":{"AWS:principalarn":"` + fnArn + `"}}}]`, "sqs:SendMessage", queue, Allow},
		{"StringNotEquals", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalArn":"` + fnArn + `"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"StringNotEquals on a missing key is true", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpc":"vpc-1"}}}]`, "sqs:SendMessage", queue, Allow},
		{"StringEquals on a missing key is false", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"IfExists on a missing key is true", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-1"}}}]`, "sqs:SendMessage", queue, Allow},
		{"IfExists on a present key compares", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:PrincipalArn":"x"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"StringLike", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalArn":"*/shop-dev-*"}}}]`, "sqs:SendMessage", queue, Allow},
		{"StringNotLike", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringNotLike":{"aws:PrincipalArn":"*/shop-dev-*"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"ArnLike on the source", `[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:000000000000:orders-*"}}}]`, "sqs:SendMessage", queue, Allow},
		{"ArnEquals needs the same ARN", `[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:000000000000:other"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"deny over plain HTTP (Bool)", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]`, "sqs:SendMessage", queue, ExplicitDeny},
		{"Bool true does not match false", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"DateLessThan on the current time", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}}]`, "sqs:SendMessage", queue, Allow},
		{"DateGreaterThan on the current time", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"unknown operator: an allow does not apply", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"BinaryEquals":{"aws:userid":"QUJD"}}}]`, "sqs:SendMessage", queue, ImplicitDeny},
		{"unknown operator: a deny applies", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"sqs:*","Resource":"*","Condition":{"BinaryEquals":{"aws:userid":"QUJD"}}}]`, "sqs:SendMessage", queue, ExplicitDeny},
		{"ForAnyValue on a single-valued key", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalArn":["x","*shop-dev-worker"]}}}]`, "sqs:SendMessage", queue, Allow},
		{"ForAllValues on a missing key holds", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}}]`, "sqs:SendMessage", queue, Allow},
		{"a single statement object", `{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}`, "sqs:SendMessage", queue, Allow},
		{"a policy document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}`, "sqs:SendMessage", queue, Allow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseStatements([]byte(c.policy))
			if err != nil {
				t.Fatal(err)
			}
			if got := Evaluate(&Request{Action: c.action, Resource: c.resource, Context: ctx}, p); got != c.want {
				t.Fatalf("got %d, want %d", got, c.want)
			}
		})
	}
}

func TestManagedPolicies(t *testing.T) {
	for _, c := range []struct {
		arn, action string
		want        Decision
	}{
		{"arn:aws:iam::aws:policy/AdministratorAccess", "events:PutEvents", Allow},
		{"arn:aws:iam::aws:policy/AmazonSQSFullAccess", "sqs:SendMessage", Allow},
		{"arn:aws:iam::aws:policy/AmazonSQSFullAccess", "sns:Publish", ImplicitDeny},
		{"arn:aws:iam::aws:policy/AmazonSNSFullAccess", "sns:Publish", Allow},
		{"arn:aws:iam::aws:policy/AmazonEventBridgeFullAccess", "events:PutEvents", Allow},
		{"arn:aws:iam::aws:policy/AWSLambda_FullAccess", "lambda:InvokeFunction", Allow},
		{"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", "logs:PutLogEvents", Allow},
		{"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", "sqs:SendMessage", ImplicitDeny},
		{"arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess", "sqs:ReceiveMessage", ImplicitDeny},
		{"arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess", "lambda:GetFunction", Allow},
	} {
		p, ok := ManagedPolicy(c.arn)
		if !ok {
			t.Fatalf("%s unknown", c.arn)
		}
		if got := Evaluate(&Request{Action: c.action, Resource: "*"}, p); got != c.want {
			t.Errorf("%s %s: %d, want %d", c.arn, c.action, got, c.want)
		}
	}
	if _, ok := ManagedPolicy("arn:aws:iam::aws:policy/AmazonS3FullAccess"); ok {
		t.Error("a policy nimbus does not know was found")
	}
}

func TestParseStatementsRefusesBadStatements(t *testing.T) {
	for _, bad := range []string{
		`[{"Effect":"Permit","Action":"sqs:*","Resource":"*"}]`,
		`[{"Effect":"Allow","Resource":"*"}]`,
		`[{"Effect":"Allow","Action":"sqs:*","NotAction":"sns:*","Resource":"*"}]`,
		`[{"Effect":"Allow","Action":"sqs:*"}]`,
		`[{"Effect":"Allow","Action":{"x":1},"Resource":"*"}]`,
		`"sqs:*"`,
	} {
		if _, err := ParseStatements([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*a*b*", "xxaxxbxx", true}, {"**", "x", true}, {"", "", true}, {"", "x", false}, {"a*a*a", strings.Repeat("a", 50) + "b", false},
	} {
		if got := wildcardMatch(c.p, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestAuthorizeMessages(t *testing.T) {
	policy, err := ParseStatements([]byte(`[
		{"Effect":"Allow","Action":"sqs:*","Resource":"*"},
		{"Effect":"Deny","Action":"sqs:DeleteQueue","Resource":"*","Condition":{"ArnLike":{"lambda:SourceFunctionArn":"arn:aws:lambda:*:*:function:shop-*"}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Principal{Kind: Function, Name: "shop-dev-worker", ARN: "arn:aws:sts::000000000000:assumed-role/shop-dev-us-east-1-lambdaRole/shop-dev-worker",
		FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:shop-dev-worker", policy: policy}
	ctx := WithPrincipal(context.Background(), p, false, time.Now())
	const q = "arn:aws:sqs:us-east-1:000000000000:orders"
	if err := Authorize(ctx, "sqs:SendMessage", q, nil); err != nil {
		t.Fatal(err)
	}
	err = Authorize(ctx, "sqs:DeleteQueue", q, nil)
	want := "User: " + p.ARN + " is not authorized to perform: sqs:DeleteQueue on resource: " + q + " with an explicit deny in an identity-based policy"
	if e, ok := AsError(err); !ok || e.Message != want || e.Code(ProtocolJSON) != "AccessDeniedException" || e.Code(ProtocolQuery) != "AccessDenied" || e.Status(ProtocolQuery) != 403 {
		t.Fatalf("explicit deny: %v", err)
	}
	err = Authorize(ctx, "sns:Publish", "arn:aws:sns:us-east-1:000000000000:t", nil)
	want = "User: " + p.ARN + " is not authorized to perform: sns:Publish on resource: arn:aws:sns:us-east-1:000000000000:t because no identity-based policy allows the sns:Publish action"
	if e, ok := AsError(err); !ok || e.Message != want {
		t.Fatalf("implicit deny: %v", err)
	}
	if err := Authorize(context.Background(), "sqs:SendMessage", q, nil); err == nil {
		t.Fatal("a request without a principal was allowed")
	}
	if err := Authorize(WithPrincipal(context.Background(), AnonymousPrincipal("000000000000"), false, time.Now()), "iam:CreateUser", "*", nil); err != nil {
		t.Fatalf("--no-auth: %v", err)
	}
}

// Multi-valued keys (dynamodb:LeadingKeys) are sets: ForAllValues needs
// every value to match, ForAnyValue one; a key the request cannot supply
// keeps an Allow conditioned on it from applying and makes such a Deny apply.
func TestMultiValuedConditionKeys(t *testing.T) {
	allow, err := ParseStatements([]byte(`[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",
		"Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["a","b"]}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	anyOf, _ := ParseStatements([]byte(`[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",
		"Condition":{"ForAnyValue:StringLike":{"dynamodb:leadingkeys":"x*"}}}]`))
	deny, _ := ParseStatements([]byte(`[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"dynamodb:Scan","Resource":"*",
		"Condition":{"ForAnyValue:StringEquals":{"dynamodb:LeadingKeys":"secret"}}}]`))
	req := func(keys []string, unknowable bool) *Request {
		r := &Request{Action: "dynamodb:GetItem", Resource: "arn:aws:dynamodb:us-east-1:000000000000:table/t"}
		if unknowable {
			r.Action, r.Unknowable = "dynamodb:Scan", []string{"dynamodb:LeadingKeys"}
		} else {
			r.Multi = map[string][]string{"dynamodb:LeadingKeys": keys}
		}
		return r
	}
	for _, c := range []struct {
		name   string
		policy Policy
		req    *Request
		want   Decision
	}{
		{"all in the set", allow, req([]string{"a", "b", "a"}, false), Allow},
		{"one outside", allow, req([]string{"a", "c"}, false), ImplicitDeny},
		{"empty set", allow, req(nil, false), Allow},
		{"unknowable", allow, req(nil, true), ImplicitDeny},
		{"any matches", anyOf, req([]string{"q", "xy"}, false), Allow},
		{"none matches", anyOf, req([]string{"q"}, false), ImplicitDeny},
		{"any on empty", anyOf, req(nil, false), ImplicitDeny},
		{"deny on unknowable", deny, req(nil, true), ExplicitDeny},
		{"deny not hit", deny, req([]string{"a"}, false), Allow},
	} {
		if got := Evaluate(c.req, c.policy); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// Policy variables in resources and condition values are replaced from the
// request's keys; a variable naming a missing key matches nothing unless it
// gives a default.
func TestPolicyVariables(t *testing.T) {
	const uid = "AROAEXAMPLE:shop-dev-worker"
	ctx := map[string]string{"aws:userid": uid, "aws:PrincipalArn": "arn:aws:sts::000000000000:assumed-role/r/shop-dev-worker"}
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"plain", "plain", true},
		{"${aws:userid}", uid, true},
		{"${AWS:UserId}", uid, true},
		{"arn:aws:dynamodb:*:*:table/${aws:userid}-data", "arn:aws:dynamodb:*:*:table/" + uid + "-data", true},
		{"${aws:username}", "", false},
		{"${aws:username, 'nobody'}", "nobody", true},
		{"a${aws:userid}b${aws:userid}", "a" + uid + "b" + uid, true},
		{"${unterminated", "${unterminated", true},
	} {
		got, ok := substitute(c.in, ctx, false)
		if got != c.want || ok != c.ok {
			t.Errorf("substitute(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	policy, err := ParseStatements([]byte(`[
		{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us-east-1:000000000000:table/t",
		 "Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["${aws:userid}"]}}},
		{"Effect":"Allow","Action":"dynamodb:PutItem","Resource":"arn:aws:dynamodb:us-east-1:000000000000:table/${aws:userid}"},
		{"Effect":"Allow","Action":"dynamodb:DeleteItem","Resource":"*","Condition":{"StringEquals":{"dynamodb:LeadingKeys":"${aws:username}"}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	table := "arn:aws:dynamodb:us-east-1:000000000000:table/t"
	req := func(action, resource string, keys ...string) *Request {
		return &Request{Action: action, Resource: resource, Context: ctx, Multi: map[string][]string{"dynamodb:LeadingKeys": keys}}
	}
	for _, c := range []struct {
		name string
		req  *Request
		want Decision
	}{
		{"own partition", req("dynamodb:GetItem", table, uid), Allow},
		{"another partition", req("dynamodb:GetItem", table, "AROAOTHER:fn"), ImplicitDeny},
		{"own table by variable", req("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:000000000000:table/"+uid), Allow},
		{"another table", req("dynamodb:PutItem", table), ImplicitDeny},
		{"variable of a missing key", req("dynamodb:DeleteItem", table, ""), ImplicitDeny},
	} {
		if got := Evaluate(c.req, policy); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}

	// NotResource with a variable of a missing key covers nothing for an
	// Allow (it would otherwise allow every resource) and everything for a
	// Deny: failing closed both ways.
	allow, err := ParseStatements([]byte(`[{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::private/${aws:username}/*"}]`))
	if err != nil {
		t.Fatal(err)
	}
	deny, err := ParseStatements([]byte(`[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","NotResource":"arn:aws:s3:::home/${aws:username}/*"}]`))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]string{"aws:username": "ann"}
	for _, c := range []struct {
		name     string
		policy   Policy
		resource string
		ctx      map[string]string
		want     Decision
	}{
		{"NotResource Allow: another key", allow, "arn:aws:s3:::public/x", named, Allow},
		{"NotResource Allow: the excluded key", allow, "arn:aws:s3:::private/ann/x", named, ImplicitDeny},
		{"NotResource Allow: variable of a missing key", allow, "arn:aws:s3:::public/x", ctx, ImplicitDeny},
		{"NotResource Deny: the spared key", deny, "arn:aws:s3:::home/ann/x", named, Allow},
		{"NotResource Deny: another key", deny, "arn:aws:s3:::home/bob/x", named, ExplicitDeny},
		{"NotResource Deny: variable of a missing key", deny, "arn:aws:s3:::home/ann/x", ctx, ExplicitDeny},
	} {
		if got := Evaluate(&Request{Action: "s3:GetObject", Resource: c.resource, Context: c.ctx}, c.policy); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if id := RoleID("000000000000", "shop-dev-us-east-1-lambdaRole"); len(id) != 21 || id[:4] != "AROA" || id != RoleID("000000000000", "shop-dev-us-east-1-lambdaRole") || id == RoleID("000000000000", "other") {
		t.Errorf("RoleID = %q: want a stable AROA id of 21 characters, distinct per role", id)
	}
}

// The special variables ${*}, ${?} and ${$} stand for the character itself:
// in a pattern (Resource, *Like and Arn* conditions) they match only that
// character, never as a wildcard; so does a key's value.
func TestPolicyVariableEscapes(t *testing.T) {
	ctx := map[string]string{"aws:userid": "AROAEXAMPLE:fn", "aws:username": "a*b?"}
	for _, c := range []struct {
		in      string
		pattern bool
		want    string
	}{
		{"${*}", false, "*"},
		{"${?}", false, "?"},
		{"${$}", false, "$"},
		{"a${*}b${?}c${$}d", false, "a*b?c$d"},
		{"${$}{aws:userid}", false, "${aws:userid}"},
		{"${*}", true, "\x00*"},
		{"${?}", true, "\x00?"},
		{"${$}", true, "$"},
		{"x/*/${*}", true, "x/*/\x00*"},
		{"${aws:username}", true, "a\x00*b\x00?"},
		{"${aws:username}", false, "a*b?"},
	} {
		got, ok := substitute(c.in, ctx, c.pattern)
		if got != c.want || !ok {
			t.Errorf("substitute(%q, pattern %v) = %q, %v; want %q", c.in, c.pattern, got, ok, c.want)
		}
	}

	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"a\x00*", "a*", true},
		{"a\x00*", "ab", false},
		{"a\x00?", "a?", true},
		{"a\x00?", "ab", false},
		{"*\x00*", "xyz*", true},
		{"*\x00*", "xyz", false},
		{"*\x00*x", "a*b*x", true},
		{"\x00*\x00*", "**", true},
		{"\x00**", "*anything", true},
		{"\x00**", "anything", false},
	} {
		if got := wildcardMatch(c.p, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}

	policy, err := ParseStatements([]byte(`[
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/star${*}"},
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/q${?}"},
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/cost${$}*"},
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/home/${aws:username}/*"},
		{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*","Condition":{"StringLike":{"aws:PrincipalTag/team":"ops${*}"}}},
		{"Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"${$}ops${?}"}}},
		{"Effect":"Allow","Action":"sqs:DeleteMessage","Resource":"*","Condition":{"ForAnyValue:StringLikeIfExists":{"aws:PrincipalTag/team":"o${?}s"}}},
		{"Effect":"Allow","Action":"sqs:PurgeQueue","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/${*}"}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	object := func(key string) *Request {
		return &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/" + key, Context: ctx}
	}
	tagged := func(action, team string) *Request {
		return &Request{Action: action, Resource: "arn:aws:sqs:us-east-1:000000000000:q",
			Context: map[string]string{"aws:PrincipalTag/team": team, "aws:PrincipalArn": "arn:aws:iam::000000000000:role/" + team}}
	}
	for _, c := range []struct {
		name string
		req  *Request
		want Decision
	}{
		{"${*} is an asterisk", object("star*"), Allow},
		{"${*} is no wildcard", object("starlight"), ImplicitDeny},
		{"${*} matches one asterisk only", object("star**"), ImplicitDeny},
		{"${?} is a question mark", object("q?"), Allow},
		{"${?} is no wildcard", object("qa"), ImplicitDeny},
		{"${$} is a dollar", object("cost$2026"), Allow},
		{"text after ${$} keeps its wildcard", object("cost"), ImplicitDeny},
		{"a key's value is literal", object("home/a*b?/x"), Allow},
		{"a key's value is no wildcard", object("home/aXXbY/x"), ImplicitDeny},
		{"StringLike ${*}", tagged("sqs:SendMessage", "ops*"), Allow},
		{"StringLike ${*} is no wildcard", tagged("sqs:SendMessage", "opsteam"), ImplicitDeny},
		{"StringEquals ${$} and ${?}", tagged("sqs:ReceiveMessage", "$ops?"), Allow},
		{"StringEquals is literal anyway", tagged("sqs:ReceiveMessage", "$opsX"), ImplicitDeny},
		{"ForAnyValue:StringLikeIfExists ${?}", tagged("sqs:DeleteMessage", "o?s"), Allow},
		{"ForAnyValue:StringLikeIfExists ${?} is no wildcard", tagged("sqs:DeleteMessage", "ops"), ImplicitDeny},
		{"ArnLike ${*}", tagged("sqs:PurgeQueue", "*"), Allow},
		{"ArnLike ${*} is no wildcard", tagged("sqs:PurgeQueue", "admin"), ImplicitDeny},
	} {
		if got := Evaluate(c.req, policy); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
