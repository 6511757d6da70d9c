package gateway

import (
	"sort"
	"strings"
)

// The router is a tree of path segments. At each level a request tries, in
// API Gateway's order of specificity, the static child, then the {param}
// child, then the {greedy+} child, backtracking when a branch leads nowhere;
// a node with the request's method wins over one with only ANY at the same
// node, and the $default route catches what is left. Matching allocates
// nothing: parameters go into a caller-provided array.

// maxParams bounds the parameters a route can have (API Gateway paths are short).
const maxParams = 16

// param is one path parameter of a match; value is a slice of the path.
type param struct{ name, value string }

type node struct {
	statics    []staticEdge // few children: a linear scan beats a map
	staticMap  map[string]*node
	param      *node
	paramName  string
	greedy     *methodSet
	greedyName string
	handlers   *methodSet
}

type staticEdge struct {
	seg  string
	node *node
}

// methodSet holds the routes of one path.
type methodSet struct {
	byMethod map[string]*route
	any      *route
}

func (m *methodSet) lookup(method string) *route {
	if r := m.byMethod[method]; r != nil {
		return r
	}
	return m.any
}

// methods lists the methods of a path for CORS preflights.
func (m *methodSet) methods() string {
	if m.any != nil {
		return "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"
	}
	list := make([]string, 0, len(m.byMethod)+1)
	for k := range m.byMethod {
		list = append(list, k)
	}
	if m.byMethod["OPTIONS"] == nil {
		list = append(list, "OPTIONS")
	}
	sort.Strings(list)
	return strings.Join(list, ",")
}

// router routes one set of APIs (all services, or one service's host).
type router struct {
	root node
	def  *route // the $default route
}

// add inserts r under its full path; it returns the route already there, if any.
func (t *router) add(r *route) *route {
	if r.pattern == "" {
		if t.def != nil {
			return t.def
		}
		t.def = r
		return nil
	}
	n := &t.root
	path := r.fullPath()
	segs := splitPath(path)
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}"):
			if n.greedy == nil {
				n.greedy = &methodSet{byMethod: map[string]*route{}}
				n.greedyName = s[1 : len(s)-2]
			}
			// A greedy parameter is always last (checked when parsed).
			return addMethod(n.greedy, r)
		case strings.HasPrefix(s, "{"):
			if n.param == nil {
				n.param = &node{}
				n.paramName = s[1 : len(s)-1]
			}
			n = n.param
		default:
			n = n.static(s, true)
		}
		_ = i
	}
	if n.handlers == nil {
		n.handlers = &methodSet{byMethod: map[string]*route{}}
	}
	return addMethod(n.handlers, r)
}

func addMethod(m *methodSet, r *route) *route {
	if r.method == "ANY" {
		if m.any != nil {
			return m.any
		}
		m.any = r
		return nil
	}
	if prev := m.byMethod[r.method]; prev != nil {
		return prev
	}
	m.byMethod[r.method] = r
	return nil
}

func (n *node) static(seg string, create bool) *node {
	if n.staticMap != nil {
		if c := n.staticMap[seg]; c != nil || !create {
			return c
		}
	} else {
		for i := range n.statics {
			if n.statics[i].seg == seg {
				return n.statics[i].node
			}
		}
		if !create {
			return nil
		}
	}
	c := &node{}
	if n.staticMap != nil {
		n.staticMap[seg] = c
		return c
	}
	n.statics = append(n.statics, staticEdge{seg, c})
	if len(n.statics) > 8 {
		n.staticMap = make(map[string]*node, len(n.statics))
		for _, e := range n.statics {
			n.staticMap[e.seg] = e.node
		}
		n.statics = nil
	}
	return c
}

// params collects a match's parameters without allocating.
type params struct {
	list [maxParams]param
	n    int
}

func (p *params) slice() []param { return p.list[:p.n] }

// match finds the route for method and path (which starts with "/"), and
// the routes of the path it matched (for preflights); when no route has the
// method, pathSet is the best path that matched, if any. With useDefault the
// $default route takes what nothing else matches.
func (t *router) match(method, path string, ps *params, useDefault bool) (r *route, pathSet *methodSet) {
	ps.n = 0
	rest := path
	if len(rest) > 0 && rest[0] == '/' {
		rest = rest[1:]
	}
	r, pathSet = t.root.match(method, rest, path == "/", ps)
	if r == nil && t.def != nil && useDefault {
		ps.n = 0
		return t.def, nil
	}
	return r, pathSet
}

// match walks the remaining path. atEnd is true when no segment is left.
func (n *node) match(method, rest string, atEnd bool, ps *params) (*route, *methodSet) {
	if atEnd {
		if n.handlers != nil {
			if r := n.handlers.lookup(method); r != nil {
				return r, n.handlers
			}
			return nil, n.handlers
		}
		return nil, nil
	}
	seg, tail, last := cutSegment(rest)
	var seen *methodSet
	if seg != "" || last {
		if c := n.static(seg, false); c != nil {
			if r, s := c.match(method, tail, last, ps); r != nil {
				return r, s
			} else if seen == nil {
				seen = s
			}
		}
		if n.param != nil && seg != "" {
			mark := ps.n
			if ps.n < maxParams {
				ps.list[ps.n] = param{n.paramName, seg}
				ps.n++
			}
			if r, s := n.param.match(method, tail, last, ps); r != nil {
				return r, s
			} else if seen == nil {
				seen = s
			}
			ps.n = mark
		}
	}
	if n.greedy != nil && rest != "" {
		if r := n.greedy.lookup(method); r != nil {
			if ps.n < maxParams {
				ps.list[ps.n] = param{n.greedyName, rest}
				ps.n++
			}
			return r, n.greedy
		}
		if seen == nil {
			seen = n.greedy
		}
	}
	return nil, seen
}

// cutSegment splits "a/b/c" into "a" and "b/c"; last is true for the final segment.
func cutSegment(rest string) (seg, tail string, last bool) {
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i+1:], false
	}
	return rest, "", true
}

func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
