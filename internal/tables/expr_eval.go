package tables

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

// getPath returns the value at path in item.
func getPath(item Item, path docPath) (Value, bool) {
	cur, ok := item[path[0].name]
	if !ok {
		return Value{}, false
	}
	for _, e := range path[1:] {
		if e.isIndex {
			if cur.Kind != KindL || e.index >= len(cur.L) {
				return Value{}, false
			}
			cur = cur.L[e.index]
			continue
		}
		if cur.Kind != KindM {
			return Value{}, false
		}
		if cur, ok = cur.M[e.name]; !ok {
			return Value{}, false
		}
	}
	return cur, true
}

// compareValues orders two scalars of the same type (S, N or B).
func compareValues(a, b Value) (int, bool) {
	if a.Kind != b.Kind {
		return 0, false
	}
	switch a.Kind {
	case KindS:
		return strings.Compare(a.S, b.S), true
	case KindN:
		c, err := compareNumbers(a.S, b.S)
		return c, err == nil
	case KindB:
		return bytes.Compare(a.B, b.B), true
	}
	return 0, false
}

func evalOperand(item Item, o operand) (Value, bool) {
	switch o := o.(type) {
	case valueOp:
		return o.v, true
	case pathOp:
		return getPath(item, o.path)
	case sizeOp:
		v, ok := getPath(item, o.path)
		if !ok {
			return Value{}, false
		}
		var n int
		switch v.Kind {
		case KindS:
			n = len(v.S)
		case KindB:
			n = len(v.B)
		case KindSS, KindNS, KindBS:
			n = v.SetLen()
		case KindM:
			n = len(v.M)
		case KindL:
			n = len(v.L)
		default:
			return Value{}, false
		}
		return N(strconv.Itoa(n)), true
	}
	return Value{}, false
}

// evalCond evaluates a condition against item (nil: no item).
func evalCond(item Item, c cond) bool {
	switch c := c.(type) {
	case andCond:
		return evalCond(item, c.a) && evalCond(item, c.b)
	case orCond:
		return evalCond(item, c.a) || evalCond(item, c.b)
	case notCond:
		return !evalCond(item, c.c)
	case cmpCond:
		a, okA := evalOperand(item, c.a)
		b, okB := evalOperand(item, c.b)
		if !okA || !okB {
			return c.op == "<>"
		}
		switch c.op {
		case "=":
			return a.Equal(b)
		case "<>":
			return !a.Equal(b)
		}
		r, ok := compareValues(a, b)
		if !ok {
			return false
		}
		switch c.op {
		case "<":
			return r < 0
		case "<=":
			return r <= 0
		case ">":
			return r > 0
		default:
			return r >= 0
		}
	case betweenCond:
		x, ok1 := evalOperand(item, c.x)
		lo, ok2 := evalOperand(item, c.lo)
		hi, ok3 := evalOperand(item, c.hi)
		if !ok1 || !ok2 || !ok3 {
			return false
		}
		a, okA := compareValues(lo, x)
		b, okB := compareValues(x, hi)
		return okA && okB && a <= 0 && b <= 0
	case inCond:
		x, ok := evalOperand(item, c.x)
		if !ok {
			return false
		}
		for _, o := range c.list {
			if v, ok := evalOperand(item, o); ok && v.Equal(x) {
				return true
			}
		}
		return false
	case funcCond:
		v, exists := getPath(item, c.path)
		switch c.name {
		case "attribute_exists":
			return exists
		case "attribute_not_exists":
			return !exists
		}
		arg, ok := evalOperand(item, c.arg)
		if !exists || !ok {
			return false
		}
		switch c.name {
		case "attribute_type":
			return arg.Kind == KindS && v.Kind.String() == arg.S
		case "begins_with":
			switch {
			case v.Kind == KindS && arg.Kind == KindS:
				return strings.HasPrefix(v.S, arg.S)
			case v.Kind == KindB && arg.Kind == KindB:
				return bytes.HasPrefix(v.B, arg.B)
			}
			return false
		case "contains":
			switch v.Kind {
			case KindS:
				return arg.Kind == KindS && strings.Contains(v.S, arg.S)
			case KindB:
				return arg.Kind == KindB && bytes.Contains(v.B, arg.B)
			case KindSS, KindNS, KindBS:
				return v.SetContains(arg)
			case KindL:
				for _, e := range v.L {
					if e.Equal(arg) {
						return true
					}
				}
			}
			return false
		}
	}
	return false
}

// project keeps only the attributes at paths (ProjectionExpression).
func project(item Item, paths []docPath) Item {
	if item == nil {
		return nil
	}
	// List elements come out in list order, whatever order the paths name them.
	sorted := append([]docPath(nil), paths...)
	sort.SliceStable(sorted, func(i, j int) bool { return pathLess(sorted[i], sorted[j]) })
	out := Item{}
	for _, p := range sorted {
		v, ok := getPath(item, p)
		if !ok {
			continue
		}
		if len(p) == 1 {
			out[p[0].name] = v
			continue
		}
		root := Value{Kind: KindM, M: out}
		mergeAt(&root, p, v)
	}
	return out
}

func pathLess(a, b docPath) bool {
	for k := 0; k < len(a) && k < len(b); k++ {
		x, y := a[k], b[k]
		if x == y {
			continue
		}
		switch {
		case x.isIndex && y.isIndex:
			return x.index < y.index
		case x.isIndex != y.isIndex:
			return x.isIndex
		default:
			return x.name < y.name
		}
	}
	return len(a) < len(b)
}

// mergeAt places v at path inside dst, creating maps and lists on the way;
// projected list elements are appended in order.
func mergeAt(dst *Value, path docPath, v Value) {
	e := path[0]
	last := len(path) == 1
	if e.isIndex {
		if last {
			dst.L = append(dst.L, v)
			return
		}
		child := Value{Kind: childKind(path[1])}
		mergeAt(&child, path[1:], v)
		dst.L = append(dst.L, child)
		return
	}
	if last {
		dst.M[e.name] = v
		return
	}
	child, ok := dst.M[e.name]
	if !ok {
		child = Value{Kind: childKind(path[1])}
		if child.Kind == KindM {
			child.M = map[string]Value{}
		}
	}
	mergeAt(&child, path[1:], v)
	dst.M[e.name] = child
}

func childKind(e pathElem) Kind {
	if e.isIndex {
		return KindL
	}
	return KindM
}

var (
	errInvalidUpdatePath = validationf("The document path provided in the update expression is invalid for update")
	errOperandType       = validationf("An operand in the update expression has an incorrect data type")
	errMissingOperand    = validationf("The provided expression refers to an attribute that does not exist in the item")
)

// evalSetValue computes a SET action's value against the old item.
func evalSetValue(item Item, o operand) (Value, error) {
	switch o := o.(type) {
	case valueOp:
		return o.v, nil
	case pathOp:
		v, ok := getPath(item, o.path)
		if !ok {
			return Value{}, errMissingOperand
		}
		return v, nil
	case ifNotOp:
		if v, ok := getPath(item, o.path); ok {
			return v, nil
		}
		return evalSetValue(item, o.def)
	case appendOp:
		a, err := evalSetValue(item, o.a)
		if err != nil {
			return Value{}, err
		}
		b, err := evalSetValue(item, o.b)
		if err != nil {
			return Value{}, err
		}
		if a.Kind != KindL || b.Kind != KindL {
			return Value{}, errOperandType
		}
		l := make([]Value, 0, len(a.L)+len(b.L))
		return L(append(append(l, a.L...), b.L...)...), nil
	case arithOp:
		a, err := evalSetValue(item, o.left)
		if err != nil {
			return Value{}, err
		}
		b, err := evalSetValue(item, o.right)
		if err != nil {
			return Value{}, err
		}
		if a.Kind != KindN || b.Kind != KindN {
			return Value{}, errOperandType
		}
		n, err := addNumbers(a.S, b.S, o.minus)
		if err != nil {
			return Value{}, err
		}
		return N(n), nil
	}
	return Value{}, errOperandType
}

// setAt stores v at path in cur (a map or list), which must already hold
// the path's parent.
func setAt(cur Value, path docPath, v Value) (Value, error) {
	e := path[0]
	if len(path) == 1 {
		if e.isIndex {
			if cur.Kind != KindL {
				return cur, errInvalidUpdatePath
			}
			if e.index >= len(cur.L) {
				cur.L = append(cur.L, v)
			} else {
				cur.L[e.index] = v
			}
			return cur, nil
		}
		if cur.Kind != KindM {
			return cur, errInvalidUpdatePath
		}
		if cur.M == nil {
			cur.M = map[string]Value{}
		}
		cur.M[e.name] = v
		return cur, nil
	}
	if e.isIndex {
		if cur.Kind != KindL || e.index >= len(cur.L) {
			return cur, errInvalidUpdatePath
		}
		child, err := setAt(cur.L[e.index], path[1:], v)
		if err != nil {
			return cur, err
		}
		cur.L[e.index] = child
		return cur, nil
	}
	if cur.Kind != KindM {
		return cur, errInvalidUpdatePath
	}
	child, ok := cur.M[e.name]
	if !ok {
		return cur, errInvalidUpdatePath
	}
	child, err := setAt(child, path[1:], v)
	if err != nil {
		return cur, err
	}
	cur.M[e.name] = child
	return cur, nil
}

// removeAt deletes the value at path (no-op when absent).
func removeAt(cur Value, path docPath) Value {
	e := path[0]
	if len(path) == 1 {
		if e.isIndex {
			if cur.Kind == KindL && e.index < len(cur.L) {
				cur.L = append(cur.L[:e.index:e.index], cur.L[e.index+1:]...)
			}
			return cur
		}
		if cur.Kind == KindM {
			delete(cur.M, e.name)
		}
		return cur
	}
	if e.isIndex {
		if cur.Kind == KindL && e.index < len(cur.L) {
			cur.L[e.index] = removeAt(cur.L[e.index], path[1:])
		}
		return cur
	}
	if cur.Kind == KindM {
		if child, ok := cur.M[e.name]; ok {
			cur.M[e.name] = removeAt(child, path[1:])
		}
	}
	return cur
}

// applyUpdate returns old (which it does not modify) with actions applied.
func applyUpdate(old Item, actions []updateAction) (Item, error) {
	// Every operand reads the item as it was before the update.
	values := make([]Value, len(actions))
	for i, a := range actions {
		if a.kind != "SET" {
			continue
		}
		v, err := evalSetValue(old, a.value)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	item := old.Clone()
	if item == nil {
		item = Item{}
	}
	root := Value{Kind: KindM, M: item}
	var removes []docPath
	for i, a := range actions {
		switch a.kind {
		case "SET":
			var err error
			if root, err = setAt(root, a.path, values[i]); err != nil {
				return nil, err
			}
		case "REMOVE":
			removes = append(removes, a.path)
		case "ADD", "DELETE":
			arg := a.value.(valueOp).v
			cur, exists := getPath(old, a.path)
			v, remove, err := addOrDelete(a.kind, cur, exists, arg)
			if err != nil {
				return nil, err
			}
			if remove {
				removes = append(removes, a.path)
				continue
			}
			if !exists && a.kind == "DELETE" {
				continue
			}
			if root, err = setAt(root, a.path, v); err != nil {
				return nil, err
			}
		}
	}
	// Later list elements first, so each index names the element it named
	// before the update.
	sort.SliceStable(removes, func(i, j int) bool {
		a, b := removes[i], removes[j]
		la, lb := a[len(a)-1], b[len(b)-1]
		return la.isIndex && lb.isIndex && la.index > lb.index
	})
	for _, p := range removes {
		root = removeAt(root, p)
	}
	return root.M, nil
}

func addOrDelete(kind string, cur Value, exists bool, arg Value) (v Value, remove bool, err error) {
	if kind == "ADD" {
		if arg.Kind != KindN && !arg.IsSet() {
			return Value{}, false, validationf("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: %s", typeWord(arg.Kind))
		}
		if !exists {
			return arg, false, nil
		}
		if cur.Kind != arg.Kind {
			return Value{}, false, errOperandType
		}
		if cur.Kind == KindN {
			n, err := addNumbers(cur.S, arg.S, false)
			return N(n), false, err
		}
		out := cur.Clone()
		if out.Kind == KindBS {
			for _, b := range arg.BS {
				if !out.SetContains(B(b)) {
					out.BS = append(out.BS, b)
				}
			}
		} else {
			for _, s := range arg.SS {
				if !out.SetContains(Value{Kind: elemKind(out.Kind), S: s}) {
					out.SS = append(out.SS, s)
				}
			}
		}
		return out, false, nil
	}
	if !arg.IsSet() {
		return Value{}, false, validationf("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: %s", typeWord(arg.Kind))
	}
	if !exists {
		return Value{}, false, nil
	}
	if cur.Kind != arg.Kind {
		return Value{}, false, errOperandType
	}
	out := Value{Kind: cur.Kind}
	if cur.Kind == KindBS {
		for _, b := range cur.BS {
			if !arg.SetContains(B(b)) {
				out.BS = append(out.BS, b)
			}
		}
	} else {
		for _, s := range cur.SS {
			if !arg.SetContains(Value{Kind: elemKind(cur.Kind), S: s}) {
				out.SS = append(out.SS, s)
			}
		}
	}
	return out, out.SetLen() == 0, nil
}

func typeWord(k Kind) string {
	switch k {
	case KindS:
		return "STRING"
	case KindN:
		return "NUMBER"
	case KindB:
		return "BINARY"
	case KindBOOL:
		return "BOOLEAN"
	case KindNULL:
		return "NULL"
	case KindM:
		return "MAP"
	case KindL:
		return "LIST"
	}
	return k.String()
}
