package tables

import (
	"strings"
	"testing"
)

func TestConditionEvaluation(t *testing.T) {
	item := Item{
		"a": N("5"), "s": S("abc"), "b": B([]byte{1, 2}), "t": Bool(true),
		"m":  M(map[string]Value{"x": M(map[string]Value{"y": S("deep")})}),
		"l":  L(S("p"), L(N("1"), N("2"))),
		"ns": {Kind: KindNS, SS: []string{"1", "2"}},
	}
	values := map[string]Value{":5": N("5"), ":4": N("4"), ":abc": S("abc"), ":ab": S("ab"), ":deep": S("deep"), ":2": N("2"), ":b1": B([]byte{1}), ":S": S("S"), ":true": Bool(true)}
	for _, c := range []struct {
		expr string
		want bool
	}{
		{"a = :5", true},
		{"a > :4 AND a < :5", false},
		{"a >= :4 AND a <= :5", true},
		{"NOT a = :4", true},
		{"a = :4 OR s = :abc", true},
		{"(a = :4 OR s = :ab) AND t = :true", false},
		{"a = :4 OR s = :ab AND t = :true", false},
		{"NOT a = :4 AND s = :abc", true}, // NOT binds tighter than AND
		{"m.x.y = :deep", true},
		{"l[1][1] = :2", true},
		{"l[1][2] = :2", false},
		{"begins_with(s, :ab)", true},
		{"begins_with(b, :b1)", true},
		{"contains(ns, :2)", true},
		{"contains(s, :2)", false},
		{"size(m) = :5", false},
		{"size(l[1]) = :2", true},
		{"attribute_type(s, :S)", true},
		{"a BETWEEN :4 AND :5", true},
		{"s BETWEEN :4 AND :5", false},
		{"a IN (:4, :2)", false},
		{"attribute_exists(m.x) AND attribute_not_exists(m.z)", true},
		{"a<>:4", true},
	} {
		ex := NewExpressions(nil, values)
		cnd, err := parseCondition("ConditionExpression", c.expr, ex)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := evalCond(item, cnd); got != c.want {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	values := map[string]Value{":v": N("1")}
	for _, c := range []struct {
		kind, expr, msg string
	}{
		{"cond", "a =", `Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "="`},
		{"cond", "a = :v AND", `Syntax error; token: "<EOF>"`},
		{"cond", "(a = :v", `Syntax error; token: "<EOF>"`},
		{"cond", "a = :v)", `Syntax error; token: ")"`},
		{"cond", "a = :v ;", "Invalid character encountered in the expression; character: ;"},
		{"cond", "", "Invalid ConditionExpression: The expression can not be empty;"},
		{"cond", "size(a)", `Syntax error; token: "<EOF>"`},
		{"cond", "a = :v OR " + strings.Repeat("a = :v OR ", 500) + "a = :v", "Expression size has exceeded the maximum allowed size"},
		{"update", "SET a = :v, a = :v", "Two document paths conflict with each other"},
		{"update", "FOO a", `Syntax error; token: "FOO"`},
		{"update", "SET a = nope(:v)", "Invalid function name; function: nope"},
		{"update", "DELETE a :v", ""}, // type checked when applied
		{"projection", "a, a.b", "Two document paths overlap with each other"},
		{"projection", "a[x]", `Syntax error; token: "x"`},
	} {
		ex := NewExpressions(nil, values)
		var err error
		switch c.kind {
		case "cond":
			_, err = parseCondition("ConditionExpression", c.expr, ex)
		case "update":
			_, err = parseUpdate(c.expr, ex)
		default:
			_, err = parseProjection(c.expr, ex)
		}
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.expr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want %q", c.expr, err, c.msg)
		}
	}
}

func TestProjection(t *testing.T) {
	item := Item{"a": M(map[string]Value{"b": S("1"), "c": S("2")}), "l": L(S("x"), S("y"), S("z")), "k": S("k")}
	paths, err := parseProjection("a.b, l[2], l[0], absent", NewExpressions(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := project(item, paths)
	want := Item{"a": M(map[string]Value{"b": S("1")}), "l": L(S("x"), S("z"))}
	if !Value(M(got)).Equal(M(want)) {
		t.Fatalf("projected %+v, want %+v", got, want)
	}
}
