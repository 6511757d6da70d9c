package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// kind is the type of a manifest value after YAML parsing.
type kind int

const (
	kindNull kind = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindMap
	kindSeq
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindInt:
		return "an integer"
	case kindFloat:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindMap:
		return "a map"
	case kindSeq:
		return "a list"
	}
	return "null"
}

// resolution states of a node during variable resolution.
const (
	unresolved = iota
	resolving
	resolved
)

// node is a YAML value with its position: the loader works on this tree
// rather than on goccy's AST so that variable resolution can replace values
// while keeping where they came from.
type node struct {
	kind    kind
	pos     position
	str     string
	num     int64
	float   float64
	boolean bool
	entries []*entry // kindMap, in source order
	items   []*node  // kindSeq

	// contentCol is the column of the first character of a single-line
	// string's content (after an opening quote), 0 when unknown; it places
	// errors on the variable inside the string.
	contentCol int
	state      int
	// failed marks a value that already produced an error, so later checks
	// stay quiet about it.
	failed bool
}

type entry struct {
	key    string
	keyPos position
	val    *node
}

func (n *node) get(key string) *node {
	if n == nil || n.kind != kindMap {
		return nil
	}
	for _, e := range n.entries {
		if e.key == key {
			return e.val
		}
	}
	return nil
}

// child is a map's value under key, or a sequence's item at the index key
// spells; nil when there is none.
func (n *node) child(key string) *node {
	switch {
	case n == nil:
		return nil
	case n.kind == kindMap:
		return n.get(key)
	case n.kind == kindSeq:
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(n.items) {
			return n.items[i]
		}
	}
	return nil
}

// copyFrom makes n a deep copy of other's value, keeping n's own position so
// errors point where the value is used.
func (n *node) copyFrom(other *node) {
	pos := n.pos
	*n = *other.clone()
	n.pos = pos
	n.contentCol = 0
}

func (n *node) clone() *node {
	c := *n
	if n.entries != nil {
		c.entries = make([]*entry, len(n.entries))
		for i, e := range n.entries {
			c.entries[i] = &entry{key: e.key, keyPos: e.keyPos, val: e.val.clone()}
		}
	}
	if n.items != nil {
		c.items = make([]*node, len(n.items))
		for i, it := range n.items {
			c.items[i] = it.clone()
		}
	}
	return &c
}

// scalarString renders a scalar the way it would appear in an interpolated
// string; ok is false for maps and lists.
func (n *node) scalarString() (string, bool) {
	switch n.kind {
	case kindString:
		return n.str, true
	case kindInt:
		return strconv.FormatInt(n.num, 10), true
	case kindFloat:
		return strconv.FormatFloat(n.float, 'g', -1, 64), true
	case kindBool:
		return strconv.FormatBool(n.boolean), true
	case kindNull:
		return "null", true
	}
	return "", false
}

// describe names a value for error messages: its type and, for scalars, the value.
func (n *node) describe() string {
	if s, ok := n.scalarString(); ok && n.kind != kindNull {
		if n.kind == kindString {
			s = strconv.Quote(s)
		}
		return fmt.Sprintf("%s (%s)", n.kind, s)
	}
	return n.kind.String()
}

// toJSON encodes the value with map keys in source order, so the same
// manifest always gives the same bytes.
func (n *node) toJSON() json.RawMessage {
	var b bytes.Buffer
	n.writeJSON(&b)
	return b.Bytes()
}

func (n *node) writeJSON(b *bytes.Buffer) {
	switch n.kind {
	case kindNull:
		b.WriteString("null")
	case kindString:
		s, _ := json.Marshal(n.str)
		b.Write(s)
	case kindInt:
		b.WriteString(strconv.FormatInt(n.num, 10))
	case kindFloat:
		if math.IsInf(n.float, 0) || math.IsNaN(n.float) {
			b.WriteString("null") // JSON has no infinities
			return
		}
		b.WriteString(strconv.FormatFloat(n.float, 'g', -1, 64))
	case kindBool:
		b.WriteString(strconv.FormatBool(n.boolean))
	case kindMap:
		b.WriteByte('{')
		for i, e := range n.entries {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(e.key)
			b.Write(k)
			b.WriteByte(':')
			e.val.writeJSON(b)
		}
		b.WriteByte('}')
	case kindSeq:
		b.WriteByte('[')
		for i, it := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.writeJSON(b)
		}
		b.WriteByte(']')
	}
}

// parseYAML turns a YAML document into a node tree. Problems are added to
// diags; the returned tree is nil when the file cannot be parsed at all.
func parseYAML(src *source, data []byte, diags *diagnostics) *node {
	if line, col, deep := flowTooDeep(data); deep {
		diags.errorf(position{src: src, line: line, col: col}, "nesting this deep is almost certainly a mistake (or an attack)", "lists and maps nest more than %d levels deep", maxFlowDepth)
		return nil
	}
	if line, col, deep := blockTooDeep(data); deep {
		diags.errorf(position{src: src, line: line, col: col}, "nesting this deep is almost certainly a mistake (or an attack)", "lists and maps nest more than %d levels deep on one line", maxFlowDepth)
		return nil
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		var syntax *yaml.SyntaxError
		if errors.As(err, &syntax) && syntax.Token != nil && syntax.Token.Position != nil {
			p := syntax.Token.Position
			diags.errorf(position{src: src, line: p.Line, col: p.Column}, "", "YAML syntax error: %s", syntax.Message)
			return nil
		}
		diags.errorf(position{}, "", "YAML syntax error: %v", err)
		return nil
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return &node{kind: kindNull, pos: position{src: src, line: 1, col: 1}}
	}
	c := &converter{src: src, diags: diags, anchors: map[string]*node{}}
	if len(docs) > 1 {
		c.errorf(docs[1].Body, "", "the file holds more than one YAML document; a manifest is a single document")
	}
	return c.convert(docs[0].Body)
}

type converter struct {
	src     *source
	diags   *diagnostics
	anchors map[string]*node
}

func (c *converter) pos(n ast.Node) position {
	tk := n.GetToken()
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		tk = m.Values[0].Key.GetToken()
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		tk = mv.Key.GetToken()
	}
	if tk == nil || tk.Position == nil {
		return position{}
	}
	return position{src: c.src, line: tk.Position.Line, col: tk.Position.Column}
}

func (c *converter) errorf(n ast.Node, hint, format string, args ...any) {
	c.diags.errorf(c.pos(n), hint, format, args...)
}

func (c *converter) convert(n ast.Node) *node {
	out := &node{pos: c.pos(n)}
	// The file's own values are bounded by its size; they count so that
	// what aliases add is judged against the whole.
	c.diags.expansion.values++
	switch n := n.(type) {
	case nil:
		return &node{kind: kindNull}
	case *ast.NullNode:
		out.kind = kindNull
	case *ast.StringNode:
		out.kind = kindString
		out.str = n.Value
		out.contentCol = contentColumn(n.Token)
	case *ast.LiteralNode:
		out.kind = kindString
		out.str = n.Value.Value
	case *ast.IntegerNode:
		switch v := n.Value.(type) {
		case int64:
			out.kind, out.num = kindInt, v
		case uint64:
			if v > math.MaxInt64 {
				out.kind, out.float = kindFloat, float64(v)
			} else {
				out.kind, out.num = kindInt, int64(v)
			}
		default:
			out.kind, out.str = kindString, n.Token.Value
		}
	case *ast.FloatNode:
		out.kind, out.float = kindFloat, n.Value
	case *ast.InfinityNode:
		out.kind, out.float = kindFloat, n.Value
	case *ast.NanNode:
		out.kind, out.float = kindFloat, math.NaN()
	case *ast.BoolNode:
		out.kind, out.boolean = kindBool, n.Value
	case *ast.MappingNode:
		out.kind = kindMap
		c.addMapping(out, n.Values)
	case *ast.MappingValueNode:
		out.kind = kindMap
		c.addMapping(out, []*ast.MappingValueNode{n})
	case *ast.SequenceNode:
		out.kind = kindSeq
		for _, v := range n.Values {
			out.items = append(out.items, c.convert(v))
		}
	case *ast.AnchorNode:
		v := c.convert(n.Value)
		c.anchors[n.Name.GetToken().Value] = v
		return v
	case *ast.AliasNode:
		name := n.Value.GetToken().Value
		target, ok := c.anchors[name]
		if !ok {
			c.errorf(n, "", "alias *%s refers to no anchor defined before it", name)
			out.failed = true
			return out
		}
		if !c.charge(n, target, "alias *"+name) {
			out.failed = true
			return out
		}
		cp := target.clone()
		cp.pos = out.pos
		return cp
	case *ast.TagNode:
		return c.convertTag(n, out)
	case *ast.CommentGroupNode, *ast.CommentNode:
		out.kind = kindNull
	default:
		c.errorf(n, "", "unsupported YAML construct (%s)", n.Type())
		out.failed = true
	}
	return out
}

// contentColumn returns where a single-line scalar's text starts.
func contentColumn(tk *token.Token) int {
	if tk == nil || tk.Position == nil || strings.Contains(tk.Value, "\n") {
		return 0
	}
	switch tk.Type {
	case token.DoubleQuoteType, token.SingleQuoteType:
		if strings.ContainsAny(strings.TrimSpace(tk.Origin), "\\\n") || strings.Contains(tk.Origin, "''") {
			return 0 // escapes make offsets in the value differ from the source
		}
		return tk.Position.Column + 1
	case token.StringType:
		return tk.Position.Column
	}
	return 0
}

func (c *converter) addMapping(out *node, values []*ast.MappingValueNode) {
	seen := map[string]bool{}
	var merges []*node
	for _, mv := range values {
		if mv.Key.IsMergeKey() {
			merges = append(merges, c.convert(mv.Value))
			continue
		}
		key, ok := c.keyString(mv.Key)
		if !ok {
			continue
		}
		if seen[key] {
			c.errorf(mv, "remove one of them", "key %q is defined twice in the same map", key)
			continue
		}
		seen[key] = true
		out.entries = append(out.entries, &entry{key: key, keyPos: c.pos(mv), val: c.convert(mv.Value)})
	}
	// Merge keys (<<: *base) add what the map does not set itself.
	for _, m := range merges {
		sources := []*node{m}
		if m.kind == kindSeq {
			sources = m.items
		}
		for _, s := range sources {
			if s.kind != kindMap {
				c.diags.errorf(s.pos, "", "a merge key (<<) takes a map or a list of maps, not %s", s.kind)
				continue
			}
			if !c.charge(nil, s, "merge key (<<)") {
				out.failed = true
				return
			}
			for _, e := range s.entries {
				if !seen[e.key] {
					seen[e.key] = true
					out.entries = append(out.entries, &entry{key: e.key, keyPos: e.keyPos, val: e.val.clone()})
				}
			}
		}
	}
}

// charge counts a copy of v (made by an alias or a merge key at at, or at
// v's own place when at is nil) against the load's limits, reporting the
// first copy that goes over them.
func (c *converter) charge(at ast.Node, v *node, what string) bool {
	x := &c.diags.expansion
	if x.exhausted {
		return false
	}
	values, bytes := v.measure()
	if err := x.add(values, bytes); err != nil {
		x.exhausted = true
		pos := v.pos
		if at != nil {
			pos = c.pos(at)
		}
		c.diags.errorf(pos, tooBigHint, "%s: %v", what, err)
		return false
	}
	return true
}

func (c *converter) keyString(k ast.MapKeyNode) (string, bool) {
	switch k := k.(type) {
	case *ast.StringNode:
		return k.Value, true
	case ast.ScalarNode:
		if k.GetToken() != nil {
			return k.GetToken().Value, true
		}
	}
	c.errorf(k, "", "map keys must be plain values")
	return "", false
}

// cfnFunctions are CloudFormation's short-form tags (!Ref, !GetAtt ...), which
// Serverless accepts in `resources` and turns into their long form.
var cfnFunctions = map[string]bool{
	"Ref": true, "Condition": true, "GetAtt": true, "Base64": true, "Cidr": true, "FindInMap": true,
	"GetAZs": true, "ImportValue": true, "Join": true, "Select": true, "Split": true, "Sub": true,
	"Transform": true, "And": true, "Equals": true, "If": true, "Not": true, "Or": true,
	"Contains": true, "EachMemberEquals": true, "RefAll": true, "ValueOf": true, "ValueOfAll": true,
	"Length": true, "ToJsonString": true,
}

func (c *converter) convertTag(n *ast.TagNode, out *node) *node {
	tag := n.Start.Value
	value := c.convert(n.Value)
	switch tag {
	case "!!str":
		if s, ok := value.scalarString(); ok {
			value.kind, value.str = kindString, s
		}
		return value
	case "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!binary", "!!timestamp", "!!omap", "!!set":
		return value
	}
	name := strings.TrimPrefix(tag, "!")
	if !cfnFunctions[name] {
		c.errorf(n, "nimbus knows YAML's standard tags and CloudFormation's short forms (!Ref, !GetAtt, !Sub ...)", "unknown YAML tag %s", tag)
		out.failed = true
		return out
	}
	key := "Fn::" + name
	if name == "Ref" || name == "Condition" {
		key = name
	}
	if name == "GetAtt" && value.kind == kindString {
		// !GetAtt Resource.Attribute is short for [Resource, Attribute].
		if res, attr, ok := strings.Cut(value.str, "."); ok {
			value = &node{kind: kindSeq, pos: value.pos, items: []*node{
				{kind: kindString, str: res, pos: value.pos},
				{kind: kindString, str: attr, pos: value.pos},
			}}
		}
	}
	out.kind = kindMap
	out.entries = []*entry{{key: key, keyPos: out.pos, val: value}}
	return out
}
