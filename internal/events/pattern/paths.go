package pattern

import "strings"

// pathTable interns the field paths rules use, and every dotted prefix of them, as a trie of path
// segments. The flattener walks it alongside the event: each key of an object is looked up among
// the children of the node for the object's own path (a small hash table over the segment names),
// so reading an event costs about one probe and one comparison per key rather than a hash of the
// whole dotted path, and subtrees no rule reaches are skipped.
//
// A path is its dotted string, as patterns and events spell it: {"a":{"b":1}} and {"a.b":1} both
// have the path "a.b". The root node is the empty path; a top-level key "" stays on it.
type pathTable struct {
	root   *pathNode
	nextID int32
}

type pathNode struct {
	uses     int   // rule steps whose path is this one or starts with it
	fullUses int   // rule steps whose path is exactly this one
	id       int32 // valid while fullUses > 0

	children []pathChild
	// slots is an open-addressing table over children (index+1, 0 for empty), a power of two at
	// least twice as long. Its hash reads only a key's length and three of its bytes, so a key
	// no rule names usually costs one probe and no string comparison.
	slots []uint32
}

// pathChild is one child of a node. It repeats the child's leaf id, so that reading a scalar
// value does not need to touch the child node at all.
type pathChild struct {
	name string
	node *pathNode
	leaf int32 // the child's id while rules match at it, else -1
}

func (n *pathNode) leaf() int32 {
	if n.fullUses > 0 {
		return n.id
	}
	return -1
}

func newPathTable() pathTable {
	return pathTable{root: &pathNode{}}
}

// keyHash is a cheap hash of a key for the slots table: its length and three of its bytes.
func keyHash(key string) uint32 {
	n := uint32(len(key))
	if n == 0 {
		return 0
	}
	return n*0x9e3779b1 ^ uint32(key[0])*0x85ebca6b ^ uint32(key[n-1])*0xc2b2ae35 ^ uint32(key[n/2])*0x27d4eb2f
}

// child returns the entry of the child of n named key (a single segment), or nil.
func (n *pathNode) child(key string) *pathChild {
	if len(n.slots) == 0 {
		return nil
	}
	mask := uint32(len(n.slots) - 1)
	for i := keyHash(key) & mask; ; i = (i + 1) & mask {
		at := n.slots[i]
		if at == 0 {
			return nil
		}
		if c := &n.children[at-1]; c.name == key {
			return c
		}
	}
}

func (n *pathNode) addChild(name string) *pathNode {
	c := &pathNode{}
	n.children = append(n.children, pathChild{name: name, node: c, leaf: -1})
	n.rehash()
	return c
}

func (n *pathNode) removeChild(c *pathNode) {
	for i := range n.children {
		if n.children[i].node == c {
			last := len(n.children) - 1
			n.children[i] = n.children[last]
			n.children[last] = pathChild{}
			n.children = n.children[:last]
			n.rehash()
			return
		}
	}
}

// refreshLeaf copies c's leaf id into its entry in n after c's fullUses changed.
func (n *pathNode) refreshLeaf(c *pathNode) {
	for i := range n.children {
		if n.children[i].node == c {
			n.children[i].leaf = c.leaf()
			return
		}
	}
}

// rehash rebuilds the slots table after the children changed (only when rules change).
func (n *pathNode) rehash() {
	if len(n.children) == 0 {
		n.slots = nil
		return
	}
	size := 4
	for size < 2*len(n.children) {
		size <<= 1
	}
	slots := make([]uint32, size)
	mask := uint32(size - 1)
	for idx := range n.children {
		i := keyHash(n.children[idx].name) & mask
		for slots[i] != 0 {
			i = (i + 1) & mask
		}
		slots[i] = uint32(idx + 1)
	}
	n.slots = slots
}

// lookupKey returns the node for the path of key inside the object at node n and the leaf id
// rules match at that path (-1 for none); the node is nil when no rule path is, or starts with,
// that path.
func (t *pathTable) lookupKey(n *pathNode, key string) (*pathNode, int32) {
	if key == "" && n == t.root {
		return n, n.leaf() // the path of a top-level "" is "", the root's own, not the "" segment of ".x"
	}
	if c := n.child(key); c != nil {
		return c.node, c.leaf
	}
	if !hasDot(key) {
		return nil, -1
	}
	// A key with dots spans several segments: {"a.b": 1} is at path "a.b" like {"a":{"b":1}}.
	leaf := int32(-1)
	for seg := range strings.SplitSeq(key, ".") {
		c := n.child(seg)
		if c == nil {
			return nil, -1
		}
		n, leaf = c.node, c.leaf
	}
	return n, leaf
}

// hasDot is strings.IndexByte(key, '.') >= 0 without a call: keys are short.
func hasDot(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			return true
		}
	}
	return false
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

// trail returns the nodes from the root to path, or nil when path is not in the table.
func (t *pathTable) trail(path string) []*pathNode {
	trail := []*pathNode{t.root}
	segments(path, func(seg string) {
		if trail == nil {
			return
		}
		c := trail[len(trail)-1].child(seg)
		if c == nil {
			trail = nil
			return
		}
		trail = append(trail, c.node)
	})
	return trail
}

// leafID returns the id of a path rules match on, if any.
func (t *pathTable) leafID(path string) (int32, bool) {
	trail := t.trail(path)
	if trail == nil {
		return 0, false
	}
	n := trail[len(trail)-1]
	return n.id, n.fullUses > 0
}

func (t *pathTable) acquire(path string) int32 {
	trail := []*pathNode{t.root}
	segments(path, func(seg string) {
		n := trail[len(trail)-1]
		var c *pathNode
		if e := n.child(seg); e != nil {
			c = e.node
		} else {
			c = n.addChild(seg)
		}
		c.uses++
		trail = append(trail, c)
	})
	n := trail[len(trail)-1]
	if n.fullUses == 0 {
		n.id = t.nextID
		t.nextID++
	}
	n.fullUses++
	if len(trail) > 1 {
		trail[len(trail)-2].refreshLeaf(n)
	}
	return n.id
}

func (t *pathTable) release(path string) {
	trail := t.trail(path)
	if trail == nil {
		return // not acquired: nothing consistent to undo
	}
	last := len(trail) - 1
	trail[last].fullUses--
	if last > 0 {
		trail[last-1].refreshLeaf(trail[last])
	}
	for i := last; i > 0; i-- {
		c := trail[i]
		c.uses--
		if c.uses <= 0 {
			trail[i-1].removeChild(c)
		}
	}
}
