package auth

import "testing"

// IpAddress and NotIpAddress after IAM's documentation: CIDR blocks of
// either family, lists (OR'd), single addresses, IfExists, ForAnyValue.
func TestIPConditions(t *testing.T) {
	const q = "arn:aws:sqs:us-east-1:000000000000:orders"
	allow := func(cond string) string {
		return `[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*","Condition":` + cond + `}]`
	}
	cases := []struct {
		name   string
		policy string
		source string // "" : no aws:SourceIp
		want   Decision
	}{
		{"v4 block holds the source", allow(`{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`), "203.0.113.7", Allow},
		{"v4 block does not", allow(`{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`), "198.51.100.7", ImplicitDeny},
		{"list: any block", allow(`{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","127.0.0.0/8"]}}`), "127.0.0.1", Allow},
		{"single address is /32", allow(`{"IpAddress":{"aws:SourceIp":"127.0.0.1"}}`), "127.0.0.1", Allow},
		{"single address, another", allow(`{"IpAddress":{"aws:SourceIp":"127.0.0.1"}}`), "127.0.0.2", ImplicitDeny},
		{"v6 block", allow(`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`), "2001:db8:1::5", Allow},
		{"v6 block, v4 source", allow(`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`), "127.0.0.1", ImplicitDeny},
		{"v6 loopback", allow(`{"IpAddress":{"aws:SourceIp":"::1/128"}}`), "::1", Allow},
		{"mapped block is its v4 block", allow(`{"IpAddress":{"aws:SourceIp":"::ffff:127.0.0.0/104"}}`), "127.0.0.1", Allow},
		{"host bits set in the block", allow(`{"IpAddress":{"aws:SourceIp":"127.0.0.1/8"}}`), "127.9.9.9", Allow},
		{"malformed value matches nothing", allow(`{"IpAddress":{"aws:SourceIp":"127.0.0.0/33"}}`), "127.0.0.1", ImplicitDeny},
		{"no source: IpAddress fails", allow(`{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`), "", ImplicitDeny},
		{"no source: IfExists holds", allow(`{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`), "", Allow},
		{"IfExists still tests a present key", allow(`{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`), "127.0.0.1", ImplicitDeny},
		{"NotIpAddress outside", allow(`{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}`), "127.0.0.1", Allow},
		{"NotIpAddress inside", allow(`{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}`), "10.1.2.3", ImplicitDeny},
		{"ForAnyValue", allow(`{"ForAnyValue:IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`), "127.0.0.1", Allow},
		{"ForAnyValue, no source", allow(`{"ForAnyValue:IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`), "", ImplicitDeny},
		{"deny off the network", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]`, "127.0.0.1", ExplicitDeny},
		{"deny off the network, on it", `[{"Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]`, "10.0.0.1", Allow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseStatements([]byte(c.policy))
			if err != nil {
				t.Fatal(err)
			}
			ctx := map[string]string{}
			if c.source != "" {
				ctx["aws:SourceIp"] = c.source
			}
			if got := Evaluate(&Request{Action: "sqs:SendMessage", Resource: q, Context: ctx}, p); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestSourceIP(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.1:4312":        "127.0.0.1",
		"[::1]:80":              "::1",
		"[::ffff:10.0.0.1]:443": "10.0.0.1",
		"[fe80::1%eth0]:80":     "fe80::1",
		"10.0.0.9":              "10.0.0.9",
		"pipe":                  "",
		"":                      "",
	} {
		if got := SourceIP(remote); got != want {
			t.Errorf("SourceIP(%q) = %q, want %q", remote, got, want)
		}
	}
}
