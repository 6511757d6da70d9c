package workflows

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// An intrinsic is a parsed intrinsic function call, States.Name(args...).
type intrinsic struct {
	name string
	args []intrinsicArg
}

type intrinsicArg struct {
	lit   any
	path  *Path
	call  *intrinsic
	isLit bool
}

// intrinsicArity gives the allowed argument counts (min, max; -1 = any).
var intrinsicArity = map[string][2]int{
	"States.Format":         {1, -1},
	"States.StringToJson":   {1, 1},
	"States.JsonToString":   {1, 1},
	"States.Array":          {0, -1},
	"States.ArrayPartition": {2, 2},
	"States.ArrayContains":  {2, 2},
	"States.ArrayRange":     {3, 3},
	"States.ArrayGetItem":   {2, 2},
	"States.ArrayLength":    {1, 1},
	"States.ArrayUnique":    {1, 1},
	"States.Base64Encode":   {1, 1},
	"States.Base64Decode":   {1, 1},
	"States.Hash":           {2, 2},
	"States.JsonMerge":      {3, 3},
	"States.MathRandom":     {2, 3},
	"States.MathAdd":        {2, 2},
	"States.StringSplit":    {2, 2},
	"States.UUID":           {0, 0},
}

// isIntrinsic reports whether s looks like a function call (and not a path).
func isIntrinsic(s string) bool { return strings.HasPrefix(s, "States.") }

// parseIntrinsic parses a whole intrinsic function expression.
func parseIntrinsic(s string) (*intrinsic, error) {
	p := &intrinsicParser{s: s}
	call, err := p.call()
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid intrinsic function expression: %w", s, err)
	}
	if strings.TrimSpace(p.s) != "" {
		return nil, fmt.Errorf("%q is not a valid intrinsic function expression: unexpected %q after the call", s, p.s)
	}
	return call, nil
}

type intrinsicParser struct{ s string }

func (p *intrinsicParser) skip() { p.s = strings.TrimLeft(p.s, " \t\n\r") }

func (p *intrinsicParser) call() (*intrinsic, error) {
	i := strings.IndexByte(p.s, '(')
	if i < 0 {
		return nil, fmt.Errorf("missing (")
	}
	name := p.s[:i]
	arity, ok := intrinsicArity[name]
	if !ok {
		return nil, fmt.Errorf("unknown function %s", name)
	}
	p.s = p.s[i+1:]
	c := &intrinsic{name: name}
	p.skip()
	if strings.HasPrefix(p.s, ")") {
		p.s = p.s[1:]
	} else {
		for {
			a, err := p.arg()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.skip()
			if strings.HasPrefix(p.s, ",") {
				p.s = p.s[1:]
				continue
			}
			if strings.HasPrefix(p.s, ")") {
				p.s = p.s[1:]
				break
			}
			return nil, fmt.Errorf("expected , or ) in the arguments of %s", name)
		}
	}
	if len(c.args) < arity[0] || arity[1] >= 0 && len(c.args) > arity[1] {
		return nil, fmt.Errorf("%s takes %s arguments, got %d", name, arityText(arity), len(c.args))
	}
	return c, nil
}

func arityText(a [2]int) string {
	switch {
	case a[1] < 0:
		return fmt.Sprintf("at least %d", a[0])
	case a[0] == a[1]:
		return strconv.Itoa(a[0])
	}
	return fmt.Sprintf("%d to %d", a[0], a[1])
}

func (p *intrinsicParser) arg() (intrinsicArg, error) {
	p.skip()
	if p.s == "" {
		return intrinsicArg{}, fmt.Errorf("unexpected end")
	}
	switch c := p.s[0]; {
	case c == '\'':
		var b strings.Builder
		for i := 1; i < len(p.s); i++ {
			ch := p.s[i]
			if ch == '\\' && i+1 < len(p.s) {
				i++
				switch p.s[i] {
				case '{', '}':
					// keep the escape: States.Format reads it
					b.WriteByte('\\')
				}
				b.WriteByte(p.s[i])
				continue
			}
			if ch == '\'' {
				p.s = p.s[i+1:]
				return intrinsicArg{lit: b.String(), isLit: true}, nil
			}
			b.WriteByte(ch)
		}
		return intrinsicArg{}, fmt.Errorf("unterminated string")
	case c == '$':
		depth, i := 0, 1
		for ; i < len(p.s); i++ {
			ch := p.s[i]
			if ch == '[' || ch == '(' {
				depth++
			} else if ch == ']' || ch == ')' && depth > 0 {
				depth--
			} else if depth == 0 && (ch == ',' || ch == ')' || ch == ' ') {
				break
			}
		}
		path, err := ParsePath(p.s[:i])
		if err != nil {
			return intrinsicArg{}, err
		}
		p.s = p.s[i:]
		return intrinsicArg{path: path}, nil
	case strings.HasPrefix(p.s, "States."):
		call, err := p.call()
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{call: call}, nil
	default:
		i := 0
		for i < len(p.s) && p.s[i] != ',' && p.s[i] != ')' && p.s[i] != ' ' {
			i++
		}
		tok := p.s[:i]
		p.s = p.s[i:]
		switch tok {
		case "true":
			return intrinsicArg{lit: true, isLit: true}, nil
		case "false":
			return intrinsicArg{lit: false, isLit: true}, nil
		case "null":
			return intrinsicArg{lit: nil, isLit: true}, nil
		}
		if _, err := strconv.ParseFloat(tok, 64); err == nil && tok != "" {
			return intrinsicArg{lit: json.Number(tok), isLit: true}, nil
		}
		return intrinsicArg{}, fmt.Errorf("bad argument %q", tok)
	}
}

// intrinsicError is a failure while evaluating a function (States.Runtime,
// or States.IntrinsicFailure-like texts).
func intrinsicErr(name, format string, a ...any) error {
	return &Failure{Name: ErrRuntime, Cause: fmt.Sprintf("The function %s failed: %s", name, fmt.Sprintf(format, a...))}
}

func (c *intrinsic) eval(sc *scope) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		switch {
		case a.isLit:
			args[i] = a.lit
		case a.call != nil:
			v, err := a.call.eval(sc)
			if err != nil {
				return nil, err
			}
			args[i] = v
		default:
			v, err := sc.getPath(a.path)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
	}
	str := func(i int) (string, error) {
		s, ok := args[i].(string)
		if !ok {
			return "", intrinsicErr(c.name, "argument %d must be a string, got %s", i+1, typeName(args[i]))
		}
		return s, nil
	}
	arr := func(i int) ([]any, error) {
		a, ok := args[i].([]any)
		if !ok {
			return nil, intrinsicErr(c.name, "argument %d must be an array, got %s", i+1, typeName(args[i]))
		}
		return a, nil
	}
	integer := func(i int) (int64, error) {
		n, ok := toInt(args[i])
		if !ok {
			return 0, intrinsicErr(c.name, "argument %d must be an integer, got %s", i+1, encodeJSON(args[i]))
		}
		return n, nil
	}
	switch c.name {
	case "States.Format":
		tmpl, err := str(0)
		if err != nil {
			return nil, err
		}
		return formatTemplate(tmpl, args[1:])
	case "States.StringToJson":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		v, err := decodeJSON([]byte(s))
		if err != nil {
			return nil, intrinsicErr(c.name, "the string is not valid JSON: %v", err)
		}
		return v, nil
	case "States.JsonToString":
		return encodeJSON(args[0]), nil
	case "States.Array":
		out := make([]any, len(args))
		copy(out, args)
		return out, nil
	case "States.ArrayPartition":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		n, err := integer(1)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return nil, intrinsicErr(c.name, "the chunk size must be greater than 0")
		}
		size := int(min(n, int64(len(a))+1)) // no overflow past the end
		out := []any{}
		for i := 0; i < len(a); i += size {
			out = append(out, append([]any(nil), a[i:min(len(a), i+size)]...))
		}
		return out, nil
	case "States.ArrayContains":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		for _, e := range a {
			if jsonEqual(e, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case "States.ArrayRange":
		start, err := integer(0)
		if err != nil {
			return nil, err
		}
		end, err := integer(1)
		if err != nil {
			return nil, err
		}
		step, err := integer(2)
		if err != nil {
			return nil, err
		}
		if step == 0 {
			return nil, intrinsicErr(c.name, "the step cannot be 0")
		}
		out := []any{}
		for i := start; step > 0 && i <= end || step < 0 && i >= end; i += step {
			if len(out) == 1000 {
				return nil, intrinsicErr(c.name, "the range has more than 1000 items")
			}
			out = append(out, intNumber(i))
		}
		return out, nil
	case "States.ArrayGetItem":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		i, err := integer(1)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(a)) {
			return nil, intrinsicErr(c.name, "index %d is out of bounds for an array of %d items", i, len(a))
		}
		return a[i], nil
	case "States.ArrayLength":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		return intNumber(int64(len(a))), nil
	case "States.ArrayUnique":
		a, err := arr(0)
		if err != nil {
			return nil, err
		}
		out := []any{}
	next:
		for _, e := range a {
			for _, o := range out {
				if jsonEqual(e, o) {
					continue next
				}
			}
			out = append(out, e)
		}
		return out, nil
	case "States.Base64Encode":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		if len(s) > 10000 {
			return nil, intrinsicErr(c.name, "the input is longer than 10000 characters")
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "States.Base64Decode":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, intrinsicErr(c.name, "the input is not valid base64")
		}
		return string(b), nil
	case "States.Hash":
		alg, err := str(1)
		if err != nil {
			return nil, err
		}
		var h hash.Hash
		switch alg {
		case "MD5":
			h = md5.New()
		case "SHA-1":
			h = sha1.New()
		case "SHA-256":
			h = sha256.New()
		case "SHA-384":
			h = sha512.New384()
		case "SHA-512":
			h = sha512.New()
		default:
			return nil, intrinsicErr(c.name, "unsupported algorithm %q (MD5, SHA-1, SHA-256, SHA-384, SHA-512)", alg)
		}
		data, ok := args[0].(string)
		if !ok {
			data = encodeJSON(args[0])
		}
		h.Write([]byte(data))
		return hex.EncodeToString(h.Sum(nil)), nil
	case "States.JsonMerge":
		a, ok1 := args[0].(map[string]any)
		b, ok2 := args[1].(map[string]any)
		if !ok1 || !ok2 {
			return nil, intrinsicErr(c.name, "the first two arguments must be objects")
		}
		if deep, ok := args[2].(bool); !ok || deep {
			return nil, intrinsicErr(c.name, "only shallow merges (false) are supported")
		}
		out := make(map[string]any, len(a)+len(b))
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out, nil
	case "States.MathRandom":
		lo, err := integer(0)
		if err != nil {
			lo2, ok := toFloat(args[0])
			if !ok {
				return nil, err
			}
			lo = int64(lo2)
		}
		hi, err := integer(1)
		if err != nil {
			hi2, ok := toFloat(args[1])
			if !ok {
				return nil, err
			}
			hi = int64(hi2)
		}
		if hi <= lo || hi-lo <= 0 {
			return nil, intrinsicErr(c.name, "the end must be greater than the start")
		}
		r := rand.Int64N(hi-lo) + lo
		if len(args) == 3 {
			seed, err := integer(2)
			if err != nil {
				return nil, err
			}
			r = rand.New(rand.NewPCG(uint64(seed), 0)).Int64N(hi-lo) + lo
		}
		return intNumber(r), nil
	case "States.MathAdd":
		var sum int64
		for i := range args {
			f, ok := toFloat(args[i])
			if !ok {
				return nil, intrinsicErr(c.name, "argument %d must be a number, got %s", i+1, typeName(args[i]))
			}
			sum += int64(math.Floor(f + 0.5)) // Java's Math.round
		}
		return intNumber(sum), nil
	case "States.StringSplit":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		d, err := str(1)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) }) {
			out = append(out, part)
		}
		return out, nil
	case "States.UUID":
		return newUUID(), nil
	}
	return nil, intrinsicErr(c.name, "unknown function")
}

// formatTemplate fills {} placeholders in order; \{ and \} are literal braces.
func formatTemplate(tmpl string, args []any) (any, error) {
	var b strings.Builder
	n := 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c == '\\' && i+1 < len(tmpl) && (tmpl[i+1] == '{' || tmpl[i+1] == '}' || tmpl[i+1] == '\\' || tmpl[i+1] == '\'') {
			b.WriteByte(tmpl[i+1])
			i++
			continue
		}
		if c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
			if n >= len(args) {
				return nil, intrinsicErr("States.Format", "the template has more {} than arguments")
			}
			b.WriteString(formatArg(args[n]))
			n++
			i++
			continue
		}
		b.WriteByte(c)
	}
	if n != len(args) {
		return nil, intrinsicErr("States.Format", "the template has %d {} for %d arguments", n, len(args))
	}
	return b.String(), nil
}

// formatArg renders a value the way Step Functions' States.Format does:
// strings raw, objects and arrays in Java's toString form.
func formatArg(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return string(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatArg(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + formatArg(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func newUUID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
