package auth

import "testing"

// ForAnyValue asks whether one value of the request's set satisfies the
// operator: an absent key is an empty set, so no value does, negated
// operators included. Treating the absent key as the plain operator made a
// negated ForAnyValue true and let an Allow conditioned on it through.
func TestForAnyValueOnAMissingKeyIsFalse(t *testing.T) {
	const queue = "arn:aws:sqs:us-east-1:000000000000:orders"
	ctx := map[string]string{"aws:PrincipalArn": "arn:aws:sts::000000000000:assumed-role/r/f"}
	for _, c := range []struct {
		name, cond string
		want       Decision
	}{
		{"StringNotEquals", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"secret"}}`, ImplicitDeny},
		{"StringNotLike", `{"ForAnyValue:StringNotLike":{"aws:TagKeys":"secret*"}}`, ImplicitDeny},
		{"StringEquals", `{"ForAnyValue:StringEquals":{"aws:TagKeys":"a"}}`, ImplicitDeny},
		{"IfExists holds on an absent key", `{"ForAnyValue:StringNotEqualsIfExists":{"aws:TagKeys":"secret"}}`, Allow},
		{"a present key still compares", `{"ForAnyValue:StringNotEquals":{"aws:PrincipalArn":"x"}}`, Allow},
		{"Null on the absent key", `{"ForAnyValue:Null":{"aws:TagKeys":"true"}}`, Allow},
	} {
		p, err := ParseStatements([]byte(`[{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":` + c.cond + `}]`))
		if err != nil {
			t.Fatal(err)
		}
		if got := Evaluate(&Request{Action: "sqs:SendMessage", Resource: queue, Context: ctx}, p); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

// A statement with a part nimbus cannot evaluate (an unknown operator, a key
// the request cannot supply, a NotResource variable it lacks) and a
// condition that is surely false does not apply: the false condition
// decides, whatever order the condition map is walked in. The part that
// could not be evaluated used to decide whenever it came first, so the same
// request was denied on some calls and allowed on others.
func TestUnsureStatementsAreDecidedByWhatIsKnown(t *testing.T) {
	const table = "arn:aws:dynamodb:us-east-1:000000000000:table/t"
	ctx := map[string]string{"aws:PrincipalArn": "arn:aws:sts::000000000000:assumed-role/r/f"}
	allowAll := `{"Effect":"Allow","Action":"*","Resource":"*"}`
	for _, c := range []struct {
		name, deny string
		want       Decision
	}{
		{"unknown operator and a false condition",
			`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BinaryEquals":{"aws:userid":"QUJD"},"StringEquals":{"aws:PrincipalArn":"someone-else"}}}`, Allow},
		{"unknowable key and a false condition",
			`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"dynamodb:LeadingKeys":"k"},"StringEquals":{"aws:PrincipalArn":"someone-else"}}}`, Allow},
		{"unresolved NotResource and a false condition",
			`{"Effect":"Deny","Action":"*","NotResource":"arn:aws:dynamodb:*:*:table/${aws:username}","Condition":{"StringEquals":{"aws:PrincipalArn":"someone-else"}}}`, Allow},
		{"unknown operator and a true condition: a Deny applies",
			`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BinaryEquals":{"aws:userid":"QUJD"},"StringLike":{"aws:PrincipalArn":"*/f"}}}`, ExplicitDeny},
	} {
		p, err := ParseStatements([]byte(`[` + allowAll + `,` + c.deny + `]`))
		if err != nil {
			t.Fatal(err)
		}
		req := &Request{Action: "dynamodb:Scan", Resource: table, Context: ctx, Unknowable: []string{"dynamodb:LeadingKeys"}}
		// Go randomises map iteration: enough calls walk both orders.
		for i := range 200 {
			if got := Evaluate(req, p); got != c.want {
				t.Fatalf("%s: call %d got %d, want %d", c.name, i, got, c.want)
			}
		}
	}
}

// The matcher for Lambda's qualified ARNs, as IAM: an unqualified ARN is
// the function alone, "fn:*" its qualifiers, "fn*" any function whose
// name starts so (the SAM/Serverless idiom covers both), and a qualifier
// is part of the last ARN part, so a pattern for one alias covers no other.
func TestLambdaQualifiedResources(t *testing.T) {
	const base = "arn:aws:lambda:us-east-1:000000000000:function:"
	for _, c := range []struct {
		pattern, resource string
		want              bool
	}{
		{base + "fn", base + "fn", true},
		{base + "fn", base + "fn:live", false},
		{base + "fn", base + "fn:$LATEST", false},
		{base + "fn", base + "fn:1", false},
		{base + "fn:*", base + "fn:live", true},
		{base + "fn:*", base + "fn:3", true},
		{base + "fn:*", base + "fn", false},
		{base + "fn:live", base + "fn:live", true},
		{base + "fn:live", base + "fn:live2", false},
		{base + "fn:live", base + "fn:Live", false},
		{base + "fn:live", base + "fn", false},
		{base + "fn*", base + "fn", true},
		{base + "fn*", base + "fn:live", true},
		{base + "fn*", base + "fn-other", true},
		{base + "fn:?", base + "fn:7", true},
		{base + "fn:?", base + "fn:12", false},
		{base + "other", base + "fn", false},
		{"arn:aws:lambda:*:*:function:fn", base + "fn", true},
		{"arn:aws:lambda:*:*:function:fn", "arn:aws:lambda:us-east-1:000000000000:function:fn:live", false},
		{"arn:aws:lambda:us-east-1:111111111111:function:fn", base + "fn", false},
	} {
		p, err := ParseStatements([]byte(`[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"` + c.pattern + `"}]`))
		if err != nil {
			t.Fatal(err)
		}
		got := Evaluate(&Request{Action: "lambda:InvokeFunction", Resource: c.resource}, p) == Allow
		if got != c.want {
			t.Errorf("%s on %s: %v, want %v", c.pattern, c.resource, got, c.want)
		}
	}
}
