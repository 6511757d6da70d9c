package pattern

import "strings"

// pathTable interns the field paths rules use, and every dotted prefix of them, as a trie of path
// segments. The flattener walks it alongside the event: each key of an object is looked up among
// the children of the node for the object's own path, so reading an event costs one short
// comparison (or, for nodes with many children, one hash of the key alone) per key rather than a
// hash of the whole dotted path, and subtrees no rule reaches are skipped.
//
// A path is its dotted string, as patterns and events spell it: {"a":{"b":1}} and {"a.b":1} both
// have the path "a.b". The root node is the empty path; a top-level key "" stays on it.
type pathTable struct {
	root   *pathNode
	nextID int32
}

// smallChildren is how many children a node scans linearly before it indexes them in a map.
const smallChildren = 16

type pathNode struct {
	uses     int   // rule steps whose path is this one or starts with it
	fullUses int   // rule steps whose path is exactly this one
	id       int32 // valid while fullUses > 0

	names  []string // children's segment names, parallel to kids
	kids   []*pathNode
	byName map[string]*pathNode // set once there are more than smallChildren children
}

func newPathTable() pathTable {
	return pathTable{root: &pathNode{}}
}

// child returns the child of n named key (a single segment), or nil.
func (n *pathNode) child(key string) *pathNode {
	if n.byName != nil {
		return n.byName[key]
	}
	for i, name := range n.names {
		if name == key {
			return n.kids[i]
		}
	}
	return nil
}

func (n *pathNode) addChild(name string) *pathNode {
	c := &pathNode{}
	n.names = append(n.names, name)
	n.kids = append(n.kids, c)
	if n.byName != nil {
		n.byName[name] = c
	} else if len(n.names) > smallChildren {
		n.byName = make(map[string]*pathNode, 2*len(n.names))
		for i, name := range n.names {
			n.byName[name] = n.kids[i]
		}
	}
	return c
}

func (n *pathNode) removeChild(c *pathNode) {
	for i, k := range n.kids {
		if k == c {
			if n.byName != nil {
				delete(n.byName, n.names[i])
			}
			last := len(n.kids) - 1
			n.names[i], n.kids[i] = n.names[last], n.kids[last]
			n.names[last], n.kids[last] = "", nil
			n.names, n.kids = n.names[:last], n.kids[:last]
			if len(n.names) <= smallChildren/2 {
				n.byName = nil // back to scanning; the threshold gap avoids flapping
			}
			return
		}
	}
}

// lookupKey returns the node for the path of key inside the object at node n, or nil when no rule
// path is, or starts with, that path.
func (t *pathTable) lookupKey(n *pathNode, key string) *pathNode {
	if c := n.child(key); c != nil {
		if key == "" && n == t.root {
			return n // the path of a top-level "" is "", the root's own, not the "" segment of ".x"
		}
		return c
	}
	if key == "" && n == t.root {
		return n
	}
	if strings.IndexByte(key, '.') < 0 {
		return nil
	}
	// A key with dots spans several segments: {"a.b": 1} is at path "a.b" like {"a":{"b":1}}.
	for seg := range strings.SplitSeq(key, ".") {
		if n = n.child(seg); n == nil {
			return nil
		}
	}
	return n
}

// segments calls visit with each segment of path; the empty path has none (it is the root).
func segments(path string, visit func(string)) {
	if path == "" {
		return
	}
	for seg := range strings.SplitSeq(path, ".") {
		visit(seg)
	}
}

// leafID returns the id of a path rules match on, if any.
func (t *pathTable) leafID(path string) (int32, bool) {
	n := t.root
	ok := true
	segments(path, func(seg string) {
		if n != nil {
			n = n.child(seg)
		}
	})
	if n == nil {
		ok = false
		return 0, ok
	}
	return n.id, n.fullUses > 0
}

func (t *pathTable) acquire(path string) int32 {
	n := t.root
	segments(path, func(seg string) {
		c := n.child(seg)
		if c == nil {
			c = n.addChild(seg)
		}
		c.uses++
		n = c
	})
	if n.fullUses == 0 {
		n.id = t.nextID
		t.nextID++
	}
	n.fullUses++
	return n.id
}

func (t *pathTable) release(path string) {
	trail := []*pathNode{t.root}
	segments(path, func(seg string) {
		if last := trail[len(trail)-1]; last != nil {
			trail = append(trail, last.child(seg))
		}
	})
	if trail[len(trail)-1] == nil {
		return // not acquired: nothing consistent to undo
	}
	trail[len(trail)-1].fullUses--
	for i := len(trail) - 1; i > 0; i-- {
		c := trail[i]
		c.uses--
		if c.uses <= 0 {
			trail[i-1].removeChild(c)
		}
	}
}
