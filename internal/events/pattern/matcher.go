// Package pattern matches JSON events against EventBridge event patterns (also SNS filter policies).
//
// All rules live in one automaton, as in aws/event-ruler: a rule is expanded into conjunctions
// ("sub-rules", one per $or combination), each a list of (field path, alternatives) steps in a
// canonical order (hash-matched fields first, see orderSteps). Sub-rules sharing leading steps share
// states. An event is flattened once into its leaves; from
// each state only the fields the state has transitions for are looked up, and each field's conditions
// are found through hash and interval indexes, so the cost of matching follows the event and the
// rules that (nearly) match it, not the number of rules.
//
// Semantics follow event-ruler's array-consistent matcher (the engine behind EventBridge): a rule
// matches an array if some element matches, and the fields of one rule must come from the same
// element of an array of objects; numbers compare by value; exists:false holds when no leaf of the
// field is compatible with the array elements already chosen.
package pattern

import (
	"slices"
	"sync"
	"unsafe"
)

// Matcher holds compiled rules. Match may be called from many goroutines at once; Add and Delete
// take an exclusive lock.
type Matcher struct {
	mu    sync.RWMutex
	root  *state
	paths pathTable
	rules map[string][]subRule
	runs  sync.Pool // *matchRun, reused to keep Match allocation-free in the common case
}

// New returns an empty Matcher.
func New() *Matcher {
	return &Matcher{
		root:  newState(),
		paths: newPathTable(),
		rules: map[string][]subRule{},
		runs:  sync.Pool{New: func() any { return &matchRun{} }},
	}
}

// state is a node of the automaton: the rules that are satisfied on reaching it, and the field
// transitions towards longer sub-rules.
type state struct {
	refs        int            // sub-rules passing through or ending here
	terminals   map[string]int // rule id -> sub-rules of it ending here
	ruleIDs     []string       // keys of terminals, for allocation-free iteration
	children    map[string]*state
	fields      []fieldSlot // sorted by path id, merged against the event's sorted paths
	absent      map[int32][]*state
	absentOrder []int32
}

type fieldSlot struct {
	pathID int32
	index  *fieldIndex
}

func (s *state) fieldPosition(pathID int32) (int, bool) {
	return slices.BinarySearchFunc(s.fields, pathID, func(f fieldSlot, id int32) int { return int(f.pathID - id) })
}

func newState() *state {
	return &state{children: map[string]*state{}}
}

// Validate reports whether patternJSON is a valid event pattern, with the reason if it is not.
func Validate(patternJSON []byte) error {
	_, err := compilePattern(patternJSON)
	return err
}

// MatchOne compiles one pattern and matches one event against it (as TestEventPattern does).
func MatchOne(patternJSON, eventJSON []byte) (bool, error) {
	m := New()
	if err := m.Add("pattern", patternJSON); err != nil {
		return false, err
	}
	ids, err := m.Match(eventJSON)
	return len(ids) > 0, err
}

// Add compiles patternJSON and files it under ruleID. Patterns added under the same id are OR-ed.
// An invalid pattern changes nothing and returns a *PatternError.
func (m *Matcher) Add(ruleID string, patternJSON []byte) error {
	subRules, err := compilePattern(patternJSON)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sr := range subRules {
		m.insert(ruleID, sr)
	}
	m.rules[ruleID] = append(m.rules[ruleID], subRules...)
	return nil
}

// Delete removes every pattern filed under ruleID. Unknown ids are ignored.
func (m *Matcher) Delete(ruleID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sr := range m.rules[ruleID] {
		m.remove(ruleID, sr)
	}
	delete(m.rules, ruleID)
}

// Len returns the number of rule ids in the matcher.
func (m *Matcher) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.rules)
}

func (m *Matcher) insert(ruleID string, sr subRule) {
	current := m.root
	for i := range sr {
		st := &sr[i]
		pathID := m.paths.acquire(st.path)
		next := current.children[st.key]
		if next == nil {
			next = newState()
			current.children[st.key] = next
			current.link(pathID, st, next)
		}
		next.refs++
		current = next
	}
	if current.terminals == nil {
		current.terminals = map[string]int{}
	}
	if current.terminals[ruleID] == 0 {
		current.ruleIDs = append(current.ruleIDs, ruleID)
	}
	current.terminals[ruleID]++
}

func (m *Matcher) remove(ruleID string, sr subRule) {
	trail := make([]*state, 0, len(sr)+1)
	trail = append(trail, m.root)
	for i := range sr {
		next := trail[i].children[sr[i].key]
		if next == nil {
			return // not present: nothing consistent to undo
		}
		trail = append(trail, next)
	}
	last := trail[len(trail)-1]
	last.terminals[ruleID]--
	if last.terminals[ruleID] == 0 {
		delete(last.terminals, ruleID)
		last.ruleIDs = slices.DeleteFunc(last.ruleIDs, func(id string) bool { return id == ruleID })
	}
	for i := len(sr) - 1; i >= 0; i-- {
		parent, child, st := trail[i], trail[i+1], &sr[i]
		pathID, _ := m.paths.leafID(st.path)
		child.refs--
		if child.refs == 0 {
			delete(parent.children, st.key)
			parent.unlink(pathID, st, child)
		}
		m.paths.release(st.path)
	}
}

// link makes the alternatives of step st lead from s to next.
func (s *state) link(pathID int32, st *step, next *state) {
	for i := range st.conditions {
		c := &st.conditions[i]
		if c.kind == matchAbsent {
			if s.absent == nil {
				s.absent = map[int32][]*state{}
			}
			if len(s.absent[pathID]) == 0 {
				s.absentOrder = insertSorted(s.absentOrder, pathID)
			}
			s.absent[pathID] = append(s.absent[pathID], next)
			continue
		}
		at, found := s.fieldPosition(pathID)
		if !found {
			s.fields = slices.Insert(s.fields, at, fieldSlot{pathID: pathID, index: &fieldIndex{}})
		}
		s.fields[at].index.add(c, next)
	}
}

func (s *state) unlink(pathID int32, st *step, next *state) {
	for i := range st.conditions {
		c := &st.conditions[i]
		if c.kind == matchAbsent {
			s.absent[pathID] = removeState(s.absent[pathID], next)
			if len(s.absent[pathID]) == 0 {
				delete(s.absent, pathID)
				s.absentOrder = deleteSorted(s.absentOrder, pathID)
			}
			continue
		}
		at, found := s.fieldPosition(pathID)
		if !found {
			continue
		}
		s.fields[at].index.remove(c, next)
		if s.fields[at].index.conditions == 0 {
			s.fields = slices.Delete(s.fields, at, at+1)
		}
	}
}

func insertSorted(list []int32, v int32) []int32 {
	i, found := slices.BinarySearch(list, v)
	if found {
		return list
	}
	return slices.Insert(list, i, v)
}

func deleteSorted(list []int32, v int32) []int32 {
	if i, found := slices.BinarySearch(list, v); found {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// Match returns the ids of the rules eventJSON matches, each once, in no particular order.
// Invalid JSON, or JSON that is not an object, is an error.
func (m *Matcher) Match(eventJSON []byte) ([]string, error) {
	run := m.runs.Get().(*matchRun)
	defer func() {
		run.reset()
		m.runs.Put(run)
	}()
	m.mu.RLock()
	defer m.mu.RUnlock()
	// The event is read in place: no leaf outlives this call (rule ids are returned, not event text).
	if err := flattenEvent(unsafe.String(unsafe.SliceData(eventJSON), len(eventJSON)), &m.paths, &run.event); err != nil {
		return nil, err
	}
	run.visit(m.root, nil, false)
	if len(run.matched) == 0 {
		return nil, nil
	}
	return slices.Clone(run.matched), nil
}

// matchRun is the scratch space of one Match call.
type matchRun struct {
	event       flatEvent
	matched     []string
	matchedSet  map[string]struct{} // used once matched grows past a linear scan's worth
	visited     []*state            // states entered with no array constraint, to enter each once
	visitedSet  map[*state]struct{}
	targets     []*state   // stack of per-value target lists
	memberships []arrayPos // backing store for merged array constraints
}

const linearScanLimit = 16

func (r *matchRun) reset() {
	r.event.reset()
	clear(r.matched)
	r.matched = r.matched[:0]
	r.matchedSet = nil
	clear(r.visited)
	r.visited = r.visited[:0]
	r.visitedSet = nil
	clear(r.targets[:cap(r.targets)])
	r.targets = r.targets[:0]
	r.memberships = r.memberships[:0]
}

func (r *matchRun) addMatch(id string) {
	if r.matchedSet != nil {
		if _, dup := r.matchedSet[id]; dup {
			return
		}
		r.matchedSet[id] = struct{}{}
		r.matched = append(r.matched, id)
		return
	}
	if slices.Contains(r.matched, id) {
		return
	}
	r.matched = append(r.matched, id)
	if len(r.matched) > linearScanLimit {
		r.matchedSet = make(map[string]struct{}, 2*len(r.matched))
		for _, m := range r.matched {
			r.matchedSet[m] = struct{}{}
		}
	}
}

// firstVisit records s as entered without array constraints; re-entering it would find nothing new.
func (r *matchRun) firstVisit(s *state) bool {
	if r.visitedSet != nil {
		if _, seen := r.visitedSet[s]; seen {
			return false
		}
		r.visitedSet[s] = struct{}{}
		return true
	}
	if slices.Contains(r.visited, s) {
		return false
	}
	r.visited = append(r.visited, s)
	if len(r.visited) > linearScanLimit {
		r.visitedSet = make(map[*state]struct{}, 2*len(r.visited))
		for _, v := range r.visited {
			r.visitedSet[v] = struct{}{}
		}
	}
	return true
}

// visit enters state s having chosen array elements membership, and follows every transition the
// event allows from it.
//
// The automaton is a tree, so a state can only be re-entered when a field had several leaves (an
// array) on the way; only then, and without array constraints, is it worth remembering the visit.
func (r *matchRun) visit(s *state, membership []arrayPos, mayRepeat bool) {
	if mayRepeat && len(membership) == 0 && !r.firstVisit(s) {
		return
	}
	for _, id := range s.ruleIDs {
		r.addMatch(id)
	}
	groups := r.event.groups
	// Merge the state's sorted field paths with the event's sorted field paths.
	gi := 0
	for _, slot := range s.fields {
		for gi < len(groups) && groups[gi].pathID < slot.pathID {
			gi++
		}
		if gi == len(groups) {
			break
		}
		if groups[gi].pathID != slot.pathID {
			continue
		}
		fi := slot.index
		for fieldAt := groups[gi].start; fieldAt < groups[gi].end; fieldAt++ {
			field := r.event.field(fieldAt)
			merged, ok := r.mergeMembership(membership, field.membership)
			if !ok {
				continue
			}
			start := len(r.targets)
			// collect deduplicates within its own segment only, then the segment joins the stack:
			// in place when it fitted, copied when collect had to grow it.
			if seg := fi.collect(field, r.targets[start:start]); len(seg) > 0 {
				if cap(r.targets) > start && &r.targets[:start+1][start] == &seg[0] {
					r.targets = r.targets[:start+len(seg)]
				} else {
					r.targets = append(r.targets[:start], seg...)
				}
			}
			end := len(r.targets)
			several := mayRepeat || groups[gi].end-groups[gi].start > 1
			for i := start; i < end; i++ {
				r.visit(r.targets[i], merged, several)
			}
			r.targets = r.targets[:start] // cleared once per match, in reset
		}
	}
	for _, pathID := range s.absentOrder {
		if r.presentConsistently(pathID, membership) {
			continue
		}
		for _, next := range s.absent[pathID] {
			r.visit(next, membership, mayRepeat)
		}
	}
}

// presentConsistently reports whether the event has a leaf at pathID compatible with membership.
func (r *matchRun) presentConsistently(pathID int32, membership []arrayPos) bool {
	groups := r.event.groups
	i, found := slices.BinarySearchFunc(groups, pathID, func(g pathGroup, id int32) int { return int(g.pathID - id) })
	if !found {
		return false
	}
	for at := groups[i].start; at < groups[i].end; at++ {
		if consistent(membership, r.event.field(at).membership) {
			return true
		}
	}
	return false
}

// consistent reports whether two leaves' array positions agree on every array they share.
func consistent(a, b []arrayPos) bool {
	for _, pb := range b {
		for _, pa := range a {
			if pa.array == pb.array && pa.index != pb.index {
				return false
			}
		}
	}
	return true
}

// mergeMembership combines the array constraints chosen so far with a new leaf's, or reports a clash.
func (r *matchRun) mergeMembership(sofar, leaf []arrayPos) ([]arrayPos, bool) {
	if len(leaf) == 0 {
		return sofar, true
	}
	if len(sofar) == 0 {
		return leaf, true
	}
	added := 0
	for _, pl := range leaf {
		known := false
		for _, ps := range sofar {
			if ps.array == pl.array {
				if ps.index != pl.index {
					return nil, false
				}
				known = true
				break
			}
		}
		if !known {
			added++
		}
	}
	if added == 0 {
		return sofar, true
	}
	start := len(r.memberships)
	r.memberships = append(r.memberships, sofar...)
	for _, pl := range leaf {
		if !slices.ContainsFunc(sofar, func(ps arrayPos) bool { return ps.array == pl.array }) {
			r.memberships = append(r.memberships, pl)
		}
	}
	return r.memberships[start:len(r.memberships):len(r.memberships)], true
}
