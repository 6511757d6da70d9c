package topics

import "testing"

func TestFilterPolicyMatching(t *testing.T) {
	str := func(v string) Attribute { return Attribute{Type: "String", Value: v} }
	num := func(v string) Attribute { return Attribute{Type: "Number", Value: v} }
	for _, c := range []struct {
		name, policy, scope, message string
		attrs                        map[string]Attribute
		want                         bool
	}{
		{name: "no policy", message: "x", want: true},
		{name: "attribute equals", policy: `{"kind":["order"]}`, attrs: map[string]Attribute{"kind": str("order")}, want: true},
		{name: "attribute differs", policy: `{"kind":["order"]}`, attrs: map[string]Attribute{"kind": str("refund")}},
		{name: "attribute missing", policy: `{"kind":["order"]}`},
		{name: "explicit attributes scope", policy: `{"kind":["order"]}`, scope: "MessageAttributes", attrs: map[string]Attribute{"kind": str("order")}, want: true},
		{name: "number attribute range", policy: `{"price":[{"numeric":[">",10]}]}`, attrs: map[string]Attribute{"price": num("12.5")}, want: true},
		{name: "number attribute out of range", policy: `{"price":[{"numeric":[">",10]}]}`, attrs: map[string]Attribute{"price": num("5")}},
		{name: "string array attribute", policy: `{"tags":["b"]}`, attrs: map[string]Attribute{"tags": {Type: "String.Array", Value: `["a","b"]`}}, want: true},
		{name: "custom string type", policy: `{"kind":["order"]}`, attrs: map[string]Attribute{"kind": {Type: "String.code", Value: "order"}}, want: true},
		// The attributes scope does not look at the body, and the body scope
		// does not look at the attributes.
		{name: "attributes scope ignores the body", policy: `{"kind":["order"]}`, message: `{"kind":"order"}`},
		{name: "body scope", policy: `{"kind":["order"]}`, scope: "MessageBody", message: `{"kind":"order","id":1}`, want: true},
		{name: "body scope ignores attributes", policy: `{"kind":["order"]}`, scope: "MessageBody", message: `{"kind":"refund"}`,
			attrs: map[string]Attribute{"kind": str("order")}},
		{name: "body scope nested", policy: `{"order":{"total":[{"numeric":[">=",100]}]}}`, scope: "MessageBody", message: `{"order":{"total":150}}`, want: true},
		{name: "body scope nested miss", policy: `{"order":{"total":[{"numeric":[">=",100]}]}}`, scope: "MessageBody", message: `{"order":{"total":50}}`},
		{name: "body scope, body not JSON", policy: `{"kind":["order"]}`, scope: "MessageBody", message: `kind=order`},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := &Subscription{FilterPolicy: c.policy, FilterPolicyScope: c.scope}
			if got := matches(sub, &PublishInput{Message: c.message, Attributes: c.attrs}); got != c.want {
				t.Errorf("matches = %v, want %v", got, c.want)
			}
		})
	}
}
