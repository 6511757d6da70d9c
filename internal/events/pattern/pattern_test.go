package pattern

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

type matchCase struct {
	name    string
	pattern string
	event   string
	want    bool
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := MatchOne([]byte(c.pattern), []byte(c.event))
			if err != nil {
				t.Fatalf("pattern %s event %s: %v", c.pattern, c.event, err)
			}
			if got != c.want {
				t.Errorf("pattern %s event %s: got match=%v, want %v", c.pattern, c.event, got, c.want)
			}
		})
	}
}

func TestExactValues(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"string", `{"a":["x"]}`, `{"a":"x"}`, true},
		{"string mismatch", `{"a":["x"]}`, `{"a":"y"}`, false},
		{"one of several", `{"a":["x","y"]}`, `{"a":"y"}`, true},
		{"escaped string", `{"a":["line\nbreak \u00e9"]}`, `{"a":"line\nbreak é"}`, true},
		{"number", `{"a":[300]}`, `{"a":300}`, true},
		{"number by value", `{"a":[300]}`, `{"a":3.0e2}`, true},
		{"number by value, float pattern", `{"a":[3.0e2]}`, `{"a":300.000}`, true},
		{"number is not a string", `{"a":[300]}`, `{"a":"300"}`, false},
		{"string is not a number", `{"a":["300"]}`, `{"a":300}`, false},
		{"long integer by literal", `{"a":[123456789012345678]}`, `{"a":123456789012345678}`, true},
		{"long integer not rounded", `{"a":[123456789012345678]}`, `{"a":123456789012345679}`, false},
		{"true", `{"a":[true]}`, `{"a":true}`, true},
		{"true is not the string", `{"a":[true]}`, `{"a":"true"}`, false},
		{"false", `{"a":[false]}`, `{"a":false}`, true},
		{"null", `{"a":[null]}`, `{"a":null}`, true},
		{"null is not empty string", `{"a":[null]}`, `{"a":""}`, false},
		{"empty string is not null", `{"a":[""]}`, `{"a":null}`, false},
		{"empty string", `{"a":[""]}`, `{"a":""}`, true},
		{"null does not match missing", `{"a":[null]}`, `{"b":1}`, false},
		{"nested", `{"d":{"e":["x"]}}`, `{"d":{"e":"x","f":1}}`, true},
		{"nested missing", `{"d":{"e":["x"]}}`, `{"d":{"f":"x"}}`, false},
		{"array any element", `{"a":["x"]}`, `{"a":["w","x"]}`, true},
		{"array no element", `{"a":["x"]}`, `{"a":["w","v"]}`, false},
		{"all fields must match", `{"a":["x"],"b":["y"]}`, `{"a":"x","b":"z"}`, false},
		{"ip spelled differently", `{"ip":["2001:db8::1"]}`, `{"ip":"2001:0db8:0:0:0:0:0:1"}`, true},
		{"dotted key", `{"d.e":["x"]}`, `{"d":{"e":"x"}}`, true},
	})
}

func TestPrefixSuffixIgnoreCase(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"prefix", `{"a":[{"prefix":"ab"}]}`, `{"a":"abc"}`, true},
		{"prefix whole", `{"a":[{"prefix":"abc"}]}`, `{"a":"abc"}`, true},
		{"prefix no", `{"a":[{"prefix":"b"}]}`, `{"a":"abc"}`, false},
		{"prefix not numbers", `{"a":[{"prefix":"1"}]}`, `{"a":12}`, false},
		{"empty prefix matches strings", `{"a":[{"prefix":""}]}`, `{"a":"x"}`, true},
		{"prefix ignore case", `{"a":[{"prefix":{"equals-ignore-case":"EventB"}}]}`, `{"a":"eventbridge"}`, true},
		{"prefix ignore case no", `{"a":[{"prefix":{"equals-ignore-case":"EventB"}}]}`, `{"a":"xeventb"}`, false},
		{"suffix", `{"a":[{"suffix":".png"}]}`, `{"a":"x.png"}`, true},
		{"suffix no", `{"a":[{"suffix":".png"}]}`, `{"a":"x.PNG"}`, false},
		{"suffix ignore case", `{"a":[{"suffix":{"equals-ignore-case":".png"}}]}`, `{"a":"x.PNG"}`, true},
		{"equals-ignore-case", `{"a":[{"equals-ignore-case":"AlIcE"}]}`, `{"a":"alice"}`, true},
		{"equals-ignore-case unicode", `{"a":[{"equals-ignore-case":"ÉTÉ"}]}`, `{"a":"été"}`, true},
		{"equals-ignore-case no", `{"a":[{"equals-ignore-case":"alice"}]}`, `{"a":"alicia"}`, false},
		{"exactly", `{"a":[{"exactly":"x"}]}`, `{"a":"x"}`, true},
	})
}

func TestAnythingBut(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"single string", `{"a":[{"anything-but":"x"}]}`, `{"a":"y"}`, true},
		{"single string excluded", `{"a":[{"anything-but":"x"}]}`, `{"a":"x"}`, false},
		{"string list", `{"a":[{"anything-but":["x","y"]}]}`, `{"a":"y"}`, false},
		{"string list other", `{"a":[{"anything-but":["x","y"]}]}`, `{"a":"z"}`, true},
		{"other type matches", `{"a":[{"anything-but":"x"}]}`, `{"a":5}`, true},
		{"missing field does not match", `{"a":[{"anything-but":"x"}]}`, `{"b":"y"}`, false},
		{"number", `{"a":[{"anything-but":100}]}`, `{"a":1e2}`, false},
		{"number list", `{"a":[{"anything-but":[100,500]}]}`, `{"a":101}`, true},
		{"number list excluded", `{"a":[{"anything-but":[100,500]}]}`, `{"a":500}`, false},
		{"array with one other element", `{"a":[{"anything-but":"x"}]}`, `{"a":["x","y"]}`, true},
		{"array all excluded", `{"a":[{"anything-but":"x"}]}`, `{"a":["x","x"]}`, false},
		{"prefix", `{"a":[{"anything-but":{"prefix":"init"}}]}`, `{"a":"initializing"}`, false},
		{"prefix other", `{"a":[{"anything-but":{"prefix":"init"}}]}`, `{"a":"running"}`, true},
		{"prefix list", `{"a":[{"anything-but":{"prefix":["a","b"]}}]}`, `{"a":"bx"}`, false},
		{"suffix", `{"a":[{"anything-but":{"suffix":".tmp"}}]}`, `{"a":"x.tmp"}`, false},
		{"suffix other", `{"a":[{"anything-but":{"suffix":".tmp"}}]}`, `{"a":"x.txt"}`, true},
		{"ignore case", `{"a":[{"anything-but":{"equals-ignore-case":"ALICE"}}]}`, `{"a":"alice"}`, false},
		{"ignore case list", `{"a":[{"anything-but":{"equals-ignore-case":["x","Y"]}}]}`, `{"a":"Z"}`, true},
		{"wildcard", `{"a":[{"anything-but":{"wildcard":"*.tmp"}}]}`, `{"a":"a.tmp"}`, false},
		{"wildcard other", `{"a":[{"anything-but":{"wildcard":"*.tmp"}}]}`, `{"a":"a.txt"}`, true},
	})
}

func TestNumeric(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"equals", `{"a":[{"numeric":["=",301.5]}]}`, `{"a":3.015e2}`, true},
		{"equals no", `{"a":[{"numeric":["=",301.5]}]}`, `{"a":301.6}`, false},
		{"less", `{"a":[{"numeric":["<",10]}]}`, `{"a":9.999}`, true},
		{"less bound", `{"a":[{"numeric":["<",10]}]}`, `{"a":10}`, false},
		{"less or equal bound", `{"a":[{"numeric":["<=",10]}]}`, `{"a":10}`, true},
		{"greater", `{"a":[{"numeric":[">",10]}]}`, `{"a":10.5}`, true},
		{"greater bound", `{"a":[{"numeric":[">",10]}]}`, `{"a":10}`, false},
		{"greater or equal bound", `{"a":[{"numeric":[">=",10]}]}`, `{"a":10}`, true},
		{"range inside", `{"a":[{"numeric":[">",0,"<=",5]}]}`, `{"a":5}`, true},
		{"range below", `{"a":[{"numeric":[">",0,"<=",5]}]}`, `{"a":0}`, false},
		{"range above", `{"a":[{"numeric":[">=",0,"<",5]}]}`, `{"a":5}`, false},
		{"negative", `{"a":[{"numeric":["<",-1e-6]}]}`, `{"a":-0.5}`, true},
		{"strings are not numbers", `{"a":[{"numeric":[">",0]}]}`, `{"a":"5"}`, false},
		{"array element", `{"a":[{"numeric":[">",0,"<",10]}]}`, `{"a":[100,5]}`, true},
		{"two ranges", `{"a":[{"numeric":["<",0]},{"numeric":[">",10]}]}`, `{"a":11}`, true},
		{"between two ranges", `{"a":[{"numeric":["<",0]},{"numeric":[">",10]}]}`, `{"a":5}`, false},
		{"event beyond double", `{"a":[{"numeric":[">",0]}]}`, `{"a":1e400}`, false},
	})
}

func TestExistsAndAbsence(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"exists", `{"a":[{"exists":true}]}`, `{"a":"x"}`, true},
		{"exists null", `{"a":[{"exists":true}]}`, `{"a":null}`, true},
		{"exists missing", `{"a":[{"exists":true}]}`, `{"b":"x"}`, false},
		{"exists object is not a leaf", `{"a":[{"exists":true}]}`, `{"a":{"b":1}}`, false},
		{"exists empty array", `{"a":[{"exists":true}]}`, `{"a":[]}`, false},
		{"absent", `{"a":[{"exists":false}]}`, `{"b":"x"}`, true},
		{"absent present", `{"a":[{"exists":false}]}`, `{"a":"x"}`, false},
		{"absent present null", `{"a":[{"exists":false}]}`, `{"a":null}`, false},
		{"absent empty array", `{"a":[{"exists":false}]}`, `{"a":[]}`, true},
		{"absent or value", `{"a":[{"exists":false},"x"]}`, `{"a":"x"}`, true},
		{"absent or value, absent", `{"a":[{"exists":false},"x"]}`, `{}`, true},
		{"absent or value, other", `{"a":[{"exists":false},"x"]}`, `{"a":"y"}`, false},
		{"absent in same element", `{"d":{"a":[{"exists":true}],"b":[{"exists":false}]}}`, `{"d":[{"a":1,"b":2},{"a":3}]}`, true},
		{"absent in every element", `{"d":{"a":[{"exists":true}],"b":[{"exists":false}]}}`, `{"d":[{"a":1,"b":2}]}`, false},
	})
}

func TestCIDR(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"ipv4", `{"ip":[{"cidr":"10.0.0.0/24"}]}`, `{"ip":"10.0.0.255"}`, true},
		{"ipv4 outside", `{"ip":[{"cidr":"10.0.0.0/24"}]}`, `{"ip":"10.0.1.0"}`, false},
		{"ipv4 host bits in pattern", `{"ip":[{"cidr":"10.1.2.3/8"}]}`, `{"ip":"10.200.0.1"}`, true},
		{"ipv4 /32", `{"ip":[{"cidr":"192.168.1.1/32"}]}`, `{"ip":"192.168.1.1"}`, true},
		{"ipv4 /0", `{"ip":[{"cidr":"0.0.0.0/0"}]}`, `{"ip":"8.8.8.8"}`, true},
		{"ipv6", `{"ip":[{"cidr":"2001:db8::/32"}]}`, `{"ip":"2001:db8:ffff::1"}`, true},
		{"ipv6 outside", `{"ip":[{"cidr":"2001:db8::/32"}]}`, `{"ip":"2001:db9::1"}`, false},
		{"ipv4 pattern, ipv6 event", `{"ip":[{"cidr":"0.0.0.0/0"}]}`, `{"ip":"::1"}`, false},
		{"not an address", `{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"ip":"10.0.0.x"}`, false},
		{"number is not an address", `{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"ip":10}`, false},
	})
}

func TestWildcard(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"star middle", `{"a":[{"wildcard":"dir/*.png"}]}`, `{"a":"dir/x/y.png"}`, true},
		{"star middle no", `{"a":[{"wildcard":"dir/*.png"}]}`, `{"a":"dir/x.jpg"}`, false},
		{"only star", `{"a":[{"wildcard":"*"}]}`, `{"a":""}`, true},
		{"only star not numbers", `{"a":[{"wildcard":"*"}]}`, `{"a":1}`, false},
		{"no star is exact", `{"a":[{"wildcard":"abc"}]}`, `{"a":"abc"}`, true},
		{"several stars", `{"a":[{"wildcard":"*a*b*"}]}`, `{"a":"xxaxxbxx"}`, true},
		{"several stars order", `{"a":[{"wildcard":"*a*b*"}]}`, `{"a":"xxbxxaxx"}`, false},
		{"overlapping ends", `{"a":[{"wildcard":"ab*ba"}]}`, `{"a":"aba"}`, false},
		{"escaped star", `{"a":[{"wildcard":"a\\*b"}]}`, `{"a":"a*b"}`, true},
		{"escaped star is literal", `{"a":[{"wildcard":"a\\*b"}]}`, `{"a":"axb"}`, false},
		{"escaped backslash", `{"a":[{"wildcard":"a\\\\*"}]}`, `{"a":"a\\bc"}`, true},
	})
}

func TestOrAndArrays(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"or first", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"a":"x"}`, true},
		{"or second", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"b":"y"}`, true},
		{"or neither", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"a":"y","b":"x"}`, false},
		{"or nested with and", `{"s":["aws.ec2"],"d":{"$or":[{"c":[{"numeric":[">",0]}]},{"e":["z"]}]}}`, `{"s":"aws.ec2","d":{"e":"z"}}`, true},
		{"or nested, and fails", `{"s":["aws.ec2"],"d":{"$or":[{"c":[{"numeric":[">",0]}]},{"e":["z"]}]}}`, `{"s":"aws.s3","d":{"e":"z"}}`, false},
		{"same element", `{"d":{"a":["1"],"b":["2"]}}`, `{"d":[{"a":"1","b":"2"}]}`, true},
		{"split elements", `{"d":{"a":["1"],"b":["2"]}}`, `{"d":[{"a":"1"},{"b":"2"}]}`, false},
		{"nested arrays", `{"d":{"a":["1"]}}`, `{"d":[[{"a":"0"}],[{"a":"1"}]]}`, true},
		{"scalar arrays do not constrain", `{"t":["a"],"u":["b"]}`, `{"t":["x","a"],"u":["b","y"]}`, true},
	})
}

func TestValidateRejectsWithReason(t *testing.T) {
	cases := []struct {
		pattern string
		reason  string // fragment of the message a person acts on
	}{
		{`[1]`, "must be a JSON object"},
		{`{"a": "x"}`, `write ["x"]`},
		{`{"a": []}`, "empty arrays"},
		{`{"a": {}}`, "empty objects"},
		{`{"a": [[1]]}`, "not an array"},
		{`{"a": [{"prefix": 1}]}`, "prefix takes a string"},
		{`{"a": [{"unknown": 1}]}`, `unknown operator "unknown"`},
		{`{"a": [{"prefix": "x", "suffix": "y"}]}`, "exactly one key"},
		{`{"a": [{"numeric": [">", 5, "<", 1]}]}`, "must be less than"},
		{`{"a": [{"numeric": ["<", 1e10]}]}`, "outside the range"},
		{`{"a": [{"numeric": ["~", 1]}]}`, `unknown operator "~"`},
		{`{"a": [{"numeric": ["=", "1"]}]}`, "must be followed by a number"},
		{`{"a": [{"exists": "yes"}]}`, "true or false"},
		{`{"a": [{"cidr": "10.0.0.1"}]}`, "prefix length"},
		{`{"a": [{"cidr": "10.0.0.0/33"}]}`, "CIDR notation"},
		{`{"a": [{"wildcard": "a**b"}]}`, "consecutive"},
		{`{"a": [{"wildcard": "a\\b"}]}`, "invalid escape"},
		{`{"a": [{"anything-but": ["x", 1]}]}`, "not mixed"},
		{`{"a": [{"anything-but": {"prefix": ""}}]}`, "empty string"},
		{`{"a": [{"anything-but": true}]}`, "strings or numbers"},
		{`{"$or": [{"a": ["x"]}]}`, "at least two"},
		{`{"$or": {"a": ["x"]}}`, "must be an array"},
		{`{"a": ["x"]} trailing`, "not valid JSON"},
		{`{"a": ["x"`, "not valid JSON"},
	}
	for _, c := range cases {
		err := Validate([]byte(c.pattern))
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("Validate(%s) = %v, want a *PatternError", c.pattern, err)
			continue
		}
		if !strings.Contains(err.Error(), c.reason) {
			t.Errorf("Validate(%s) = %q, want it to mention %q", c.pattern, err, c.reason)
		}
	}
	if err := Validate([]byte(`{"a":[{"numeric":[">=",0,"<",1]}],"b":[{"anything-but":{"wildcard":["x*","*y"]}}]}`)); err != nil {
		t.Errorf("valid pattern rejected: %v", err)
	}
}

func TestMatchRejectsBadEvents(t *testing.T) {
	m := New()
	if err := m.Add("r", []byte(`{"a":["x"]}`)); err != nil {
		t.Fatal(err)
	}
	for _, event := range []string{``, `[]`, `"a"`, `{"a":"x"`, `{"a":"x"} {}`, `{"a":tru}`, `{"a":01}`, `{"a":"\x01"}`, `{"b":[1,}`} {
		if _, err := m.Match([]byte(event)); err == nil {
			t.Errorf("Match(%q) succeeded, want an error", event)
		}
	}
}

func TestAddDelete(t *testing.T) {
	m := New()
	mustAdd := func(id, p string) {
		t.Helper()
		if err := m.Add(id, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	match := func(event string) []string {
		t.Helper()
		ids, err := m.Match([]byte(event))
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return ids
	}
	mustAdd("r1", `{"source":["a"],"n":[{"numeric":[">",1]}]}`)
	mustAdd("r2", `{"source":["a"],"n":[{"numeric":[">",1]}]}`) // same path as r1: shares states
	mustAdd("r3", `{"source":["a"]}`)
	mustAdd("r3", `{"other":[{"exists":false}]}`) // second pattern under r3 is OR-ed
	event := `{"source":"a","n":5,"other":1}`
	if got := match(event); !slices.Equal(got, []string{"r1", "r2", "r3"}) {
		t.Fatalf("got %v", got)
	}
	if err := m.Add("r4", []byte(`{"bad":`)); err == nil {
		t.Fatal("invalid pattern accepted")
	}
	m.Delete("r1")
	if got := match(event); !slices.Equal(got, []string{"r2", "r3"}) {
		t.Fatalf("after deleting r1: got %v", got)
	}
	m.Delete("r3")
	if got := match(`{"source":"a","n":5}`); !slices.Equal(got, []string{"r2"}) {
		t.Fatalf("after deleting r3: got %v", got)
	}
	m.Delete("r2")
	m.Delete("unknown")
	if got := match(event); len(got) != 0 || m.Len() != 0 {
		t.Fatalf("after deleting all: got %v, %d rules", got, m.Len())
	}
	if len(m.root.children) != 0 || len(m.paths.root.children) != 0 || m.paths.root.fullUses != 0 {
		t.Fatalf("deleting every rule left state behind: %d children, %d paths", len(m.root.children), len(m.paths.root.children))
	}
}

func TestConcurrentMatchAndUpdate(t *testing.T) {
	m := New()
	for i := range 50 {
		if err := m.Add(fmt.Sprint("r", i), []byte(fmt.Sprintf(`{"n":[{"numeric":[">",%d]}]}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 {
					id := fmt.Sprint("x", i)
					_ = m.Add(id, []byte(`{"n":[{"numeric":["<",1000]}]}`))
					m.Delete(id)
					continue
				}
				ids, err := m.Match([]byte(`{"n":25.5}`))
				if err != nil {
					t.Error(err)
					return
				}
				base := 0
				for _, id := range ids {
					if strings.HasPrefix(id, "r") {
						base++
					}
				}
				if base != 26 {
					t.Errorf("got %d numeric matches, want 26", base)
					return
				}
			}
		}()
	}
	wg.Wait()
}
