package workflows

import "testing"

// FuzzParsePath: parsing never panics, a parsed path re-parses from its
// text, and evaluating or writing through it never panics.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"$", "$$", "$.a.b[0]", "$['x y'][-1]", "$.a[*].b", "$..c", "$.a[1:3:2]", "$.a[?(@.b == 'x' || !@.c)]", "$var.x", "$$.Map.Item.Value", "$.a[0,2]", "$['a','b']"} {
		f.Add(s)
	}
	doc := mustDecode([]byte(`{"a":[{"b":"x","c":1},{"b":"y"},3],"x y":[1,2],"c":{"c":{"c":null}}}`))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		if _, err := ParsePath(p.String()); err != nil {
			t.Fatalf("%q parsed but its text does not: %v", s, err)
		}
		_, _ = p.Get(doc)
		if p.Definite() && p.root == rootData {
			_, _ = p.Set(doc, "v")
		}
	})
}

// FuzzIntrinsic: parsing and evaluating a function call never panics, and a
// failure is always a States.Runtime Failure.
func FuzzIntrinsic(f *testing.F) {
	for _, s := range []string{"States.Format('{} {}', $.a, 1)", "States.ArrayRange(1, 10, 3)", "States.ArrayPartition($.a, 2)",
		"States.StringSplit('a,b', ',')", "States.JsonMerge($.o, $.o, false)", "States.Hash('x', 'MD5')", "States.MathRandom(1, 9, 3)",
		"States.ArrayGetItem($.a, 1)", "States.ArrayPartition($.a, 9223372036854775807)", "States.MathRandom(-9223372036854775807, 9223372036854775807)", "States.Base64Decode('eA==')", "States.StringToJson('[1]')", "States.Array(States.UUID(), null, true, -1.5)"} {
		f.Add(s)
	}
	input := mustDecode([]byte(`{"a":[1,"x",{"y":2},[3]],"o":{"k":1}}`))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseIntrinsic(s)
		if err != nil {
			return
		}
		_, err = c.eval(&scope{r: &run{}, th: &thread{}, input: input})
		if err != nil {
			if f, ok := err.(*Failure); !ok || f.Name != ErrRuntime {
				t.Fatalf("%q: %v is not a States.Runtime failure", s, err)
			}
		}
	})
}
