package pattern

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
)

// fieldIndex holds, for one state and one field path, every condition some rule places on that field,
// each pointing at the states it leads to. Lookups are by hash, by the handful of distinct
// prefix/suffix lengths, or by an interval tree, so their cost does not grow with the number of rules;
// only anything-but conditions are scanned, and those usually match, so they cost what they produce.
type fieldIndex struct {
	conditions int       // number of (condition, target) links, to know when the index is empty
	present    indexKind // which of the structures below are non-empty, to skip the rest cheaply

	exactStrings  map[string][]*state
	exactLiterals map[string][]*state
	numericEquals map[float64][]*state
	foldedEquals  map[string][]*state

	prefixes       affixIndex
	suffixes       affixIndex
	foldedPrefixes affixIndex
	foldedSuffixes affixIndex

	// Wildcards are filed under their literal prefix and only those whose prefix matches are run.
	wildcardsByPrefix map[string][]wildcardTarget
	wildcardPrefixLen lengthSet

	cidrs     map[netip.Prefix][]*state
	cidrBits4 lengthSet
	cidrBits6 lengthSet

	ranges    []rangeTarget
	rangeTree atomic.Pointer[rangeTree] // built on first use after a change, nil when stale

	exists    []*state
	negations []negationTarget
}

// indexKind flags the non-empty parts of a fieldIndex.
type indexKind uint16

const (
	hasExists indexKind = 1 << iota
	hasExactString
	hasExactLiteral
	hasAffix
	hasFolded
	hasWildcard
	hasCIDR
	hasNumeric
	hasNegation
)

func (fi *fieldIndex) refreshPresent() {
	var k indexKind
	set := func(flag indexKind, nonEmpty bool) {
		if nonEmpty {
			k |= flag
		}
	}
	set(hasExists, len(fi.exists) > 0)
	set(hasExactString, len(fi.exactStrings) > 0)
	set(hasExactLiteral, len(fi.exactLiterals) > 0)
	set(hasAffix, len(fi.prefixes.targets)+len(fi.suffixes.targets) > 0)
	set(hasFolded, len(fi.foldedEquals)+len(fi.foldedPrefixes.targets)+len(fi.foldedSuffixes.targets) > 0)
	set(hasWildcard, len(fi.wildcardsByPrefix) > 0)
	set(hasCIDR, len(fi.cidrs) > 0)
	set(hasNumeric, len(fi.numericEquals)+len(fi.ranges) > 0)
	set(hasNegation, len(fi.negations) > 0)
	fi.present = k
}

type wildcardTarget struct {
	glob wildcard
	next *state
}

type rangeTarget struct {
	rng  numRange
	next *state
}

type negationTarget struct {
	cond *condition
	next *state
}

// lengthSet counts how many entries use each length, keeping the distinct lengths sorted.
type lengthSet struct {
	counts map[int]int
	sorted []int
}

func (l *lengthSet) add(n int) {
	if l.counts == nil {
		l.counts = map[int]int{}
	}
	l.counts[n]++
	if l.counts[n] == 1 {
		i, _ := slices.BinarySearch(l.sorted, n)
		l.sorted = slices.Insert(l.sorted, i, n)
	}
}

func (l *lengthSet) remove(n int) {
	l.counts[n]--
	if l.counts[n] == 0 {
		delete(l.counts, n)
		if i, found := slices.BinarySearch(l.sorted, n); found {
			l.sorted = slices.Delete(l.sorted, i, i+1)
		}
	}
}

// affixIndex finds prefixes (or suffixes) of a value with one hash lookup per distinct operand length.
type affixIndex struct {
	targets map[string][]*state
	lengths lengthSet
}

func (a *affixIndex) add(s string, next *state) {
	if a.targets == nil {
		a.targets = map[string][]*state{}
	}
	if len(a.targets[s]) == 0 {
		a.lengths.add(len(s))
	}
	a.targets[s] = append(a.targets[s], next)
}

func (a *affixIndex) remove(s string, next *state) {
	list := removeState(a.targets[s], next)
	if len(list) == 0 {
		delete(a.targets, s)
		a.lengths.remove(len(s))
		return
	}
	a.targets[s] = list
}

func (a *affixIndex) collectPrefixes(value string, out []*state) []*state {
	for _, n := range a.lengths.sorted {
		if n > len(value) {
			break
		}
		out = appendStates(out, a.targets[value[:n]])
	}
	return out
}

func (a *affixIndex) collectSuffixes(value string, out []*state) []*state {
	for _, n := range a.lengths.sorted {
		if n > len(value) {
			break
		}
		out = appendStates(out, a.targets[value[len(value)-n:]])
	}
	return out
}

// appendStates adds states not yet in out; out is short (the targets of one value), so a scan is cheapest.
func appendStates(out []*state, add []*state) []*state {
	for _, s := range add {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func appendState(out []*state, s *state) []*state {
	if !slices.Contains(out, s) {
		out = append(out, s)
	}
	return out
}

func removeState(list []*state, s *state) []*state {
	if i := slices.Index(list, s); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	return list
}

func addTo[K comparable](m *map[K][]*state, k K, next *state) {
	if *m == nil {
		*m = map[K][]*state{}
	}
	(*m)[k] = append((*m)[k], next)
}

func removeFrom[K comparable](m map[K][]*state, k K, next *state) {
	if list := removeState(m[k], next); len(list) > 0 {
		m[k] = list
	} else {
		delete(m, k)
	}
}

func (fi *fieldIndex) add(c *condition, next *state) {
	fi.conditions++
	defer fi.refreshPresent()
	switch c.kind {
	case matchExactString:
		addTo(&fi.exactStrings, c.text, next)
	case matchExactLiteral:
		addTo(&fi.exactLiterals, c.text, next)
	case matchNumericEquals:
		addTo(&fi.numericEquals, c.num, next)
	case matchEqualsIgnoreCase:
		addTo(&fi.foldedEquals, c.text, next)
	case matchPrefix:
		fi.prefixes.add(c.text, next)
	case matchSuffix:
		fi.suffixes.add(c.text, next)
	case matchPrefixIgnoreCase:
		fi.foldedPrefixes.add(c.text, next)
	case matchSuffixIgnoreCase:
		fi.foldedSuffixes.add(c.text, next)
	case matchWildcard:
		p := c.globs[0].literalPrefix()
		if fi.wildcardsByPrefix == nil {
			fi.wildcardsByPrefix = map[string][]wildcardTarget{}
		}
		if len(fi.wildcardsByPrefix[p]) == 0 {
			fi.wildcardPrefixLen.add(len(p))
		}
		fi.wildcardsByPrefix[p] = append(fi.wildcardsByPrefix[p], wildcardTarget{glob: c.globs[0], next: next})
	case matchCIDR:
		addTo(&fi.cidrs, c.prefix, next)
		if len(fi.cidrs[c.prefix]) == 1 {
			fi.cidrBitsFor(c.prefix).add(c.prefix.Bits())
		}
	case matchRange:
		fi.ranges = append(fi.ranges, rangeTarget{rng: c.rng, next: next})
		fi.rangeTree.Store(nil)
	case matchExists:
		fi.exists = append(fi.exists, next)
	default: // the anything-but family
		fi.negations = append(fi.negations, negationTarget{cond: c, next: next})
	}
}

func (fi *fieldIndex) remove(c *condition, next *state) {
	fi.conditions--
	defer fi.refreshPresent()
	switch c.kind {
	case matchExactString:
		removeFrom(fi.exactStrings, c.text, next)
	case matchExactLiteral:
		removeFrom(fi.exactLiterals, c.text, next)
	case matchNumericEquals:
		removeFrom(fi.numericEquals, c.num, next)
	case matchEqualsIgnoreCase:
		removeFrom(fi.foldedEquals, c.text, next)
	case matchPrefix:
		fi.prefixes.remove(c.text, next)
	case matchSuffix:
		fi.suffixes.remove(c.text, next)
	case matchPrefixIgnoreCase:
		fi.foldedPrefixes.remove(c.text, next)
	case matchSuffixIgnoreCase:
		fi.foldedSuffixes.remove(c.text, next)
	case matchWildcard:
		p := c.globs[0].literalPrefix()
		list := fi.wildcardsByPrefix[p]
		if i := slices.IndexFunc(list, func(w wildcardTarget) bool {
			return w.next == next && slices.Equal(w.glob.segments, c.globs[0].segments)
		}); i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(fi.wildcardsByPrefix, p)
			fi.wildcardPrefixLen.remove(len(p))
		} else {
			fi.wildcardsByPrefix[p] = list
		}
	case matchCIDR:
		removeFrom(fi.cidrs, c.prefix, next)
		if len(fi.cidrs[c.prefix]) == 0 {
			fi.cidrBitsFor(c.prefix).remove(c.prefix.Bits())
		}
	case matchRange:
		if i := slices.IndexFunc(fi.ranges, func(r rangeTarget) bool { return r.next == next && r.rng == c.rng }); i >= 0 {
			fi.ranges = slices.Delete(fi.ranges, i, i+1)
		}
		fi.rangeTree.Store(nil)
	case matchExists:
		fi.exists = removeState(fi.exists, next)
	default:
		key := c.key()
		if i := slices.IndexFunc(fi.negations, func(n negationTarget) bool {
			return n.next == next && n.cond.key() == key
		}); i >= 0 {
			fi.negations = slices.Delete(fi.negations, i, i+1)
		}
	}
}

func (fi *fieldIndex) cidrBitsFor(p netip.Prefix) *lengthSet {
	if p.Addr().Is4() {
		return &fi.cidrBits4
	}
	return &fi.cidrBits6
}

// collect appends to out the states that value v of this field leads to.
func (fi *fieldIndex) collect(v *eventField, out []*state) []*state {
	present := fi.present
	if present&hasExists != 0 {
		out = appendStates(out, fi.exists)
	}
	if v.kind == valueString {
		if present&hasExactString != 0 {
			out = appendStates(out, fi.exactStrings[v.text])
		}
		if present&hasAffix != 0 {
			out = fi.prefixes.collectPrefixes(v.text, out)
			out = fi.suffixes.collectSuffixes(v.text, out)
		}
		if present&hasFolded != 0 {
			folded := v.foldedText()
			out = appendStates(out, fi.foldedEquals[folded])
			out = fi.foldedPrefixes.collectPrefixes(folded, out)
			out = fi.foldedSuffixes.collectSuffixes(folded, out)
		}
		if present&hasWildcard != 0 {
			out = fi.collectWildcards(v.text, out)
		}
		if present&hasCIDR != 0 {
			out = fi.collectCIDRs(v, out)
		}
	} else if present&hasExactLiteral != 0 {
		out = appendStates(out, fi.exactLiterals[v.text])
	}
	if v.kind == valueNumber && present&hasNumeric != 0 {
		if x, ok := v.number(); ok {
			out = appendStates(out, fi.numericEquals[x])
			if len(fi.ranges) > 0 {
				out = fi.rangeIndex().collect(x, out)
			}
		}
	}
	if present&hasNegation != 0 {
		for i := range fi.negations {
			n := &fi.negations[i]
			if negationMatches(n.cond, v) {
				out = appendState(out, n.next)
			}
		}
	}
	return out
}

func (fi *fieldIndex) collectWildcards(value string, out []*state) []*state {
	for _, n := range fi.wildcardPrefixLen.sorted {
		if n > len(value) {
			break
		}
		for _, w := range fi.wildcardsByPrefix[value[:n]] {
			if w.glob.match(value) {
				out = appendState(out, w.next)
			}
		}
	}
	return out
}

func (fi *fieldIndex) collectCIDRs(v *eventField, out []*state) []*state {
	addr, ok := v.ipAddr()
	if !ok {
		return out
	}
	bits := &fi.cidrBits6
	if addr.Is4() {
		bits = &fi.cidrBits4
	}
	for _, n := range bits.sorted {
		if p, err := addr.Prefix(n); err == nil {
			out = appendStates(out, fi.cidrs[p])
		}
	}
	return out
}

func (fi *fieldIndex) rangeIndex() *rangeTree {
	if t := fi.rangeTree.Load(); t != nil {
		return t
	}
	// Matches run under a read lock, so several may build at once; they build the same tree.
	t := buildRangeTree(fi.ranges)
	fi.rangeTree.Store(t)
	return t
}

// negationMatches evaluates the anything-but family. A value of another type than the excluded ones
// is "anything but" them, as in event-ruler: anything-but "x" matches 5, true and null.
func negationMatches(c *condition, v *eventField) bool {
	switch c.kind {
	case matchAnythingButStrings:
		if v.kind != valueString {
			return true
		}
		_, found := slices.BinarySearch(c.set, v.text)
		return !found
	case matchAnythingButNumbers:
		x, ok := v.number()
		if !ok {
			return true
		}
		_, found := slices.BinarySearch(c.nums, x)
		return !found
	case matchAnythingButIgnoreCase:
		if v.kind != valueString {
			return true
		}
		_, found := slices.BinarySearch(c.set, v.foldedText())
		return !found
	case matchAnythingButPrefix:
		if v.kind != valueString {
			return true
		}
		for _, p := range c.set {
			if strings.HasPrefix(v.text, p) {
				return false
			}
		}
		return true
	case matchAnythingButSuffix:
		if v.kind != valueString {
			return true
		}
		for _, s := range c.set {
			if strings.HasSuffix(v.text, s) {
				return false
			}
		}
		return true
	case matchAnythingButWildcard:
		if v.kind != valueString {
			return true
		}
		for _, g := range c.globs {
			if g.match(v.text) {
				return false
			}
		}
		return true
	}
	return false
}

// rangeTree answers "which ranges contain x" in O(log n + answers). The distinct bounds cut the number
// line into slots (each bound itself, and the open gaps around it); a segment tree over the slots
// stores each range in the O(log n) nodes that exactly cover its slots.
type rangeTree struct {
	bounds []float64
	nodes  [][]*state // segment tree, 1-based; node i covers the slot span implied by its position
	slots  int
}

func buildRangeTree(ranges []rangeTarget) *rangeTree {
	var bounds []float64
	for _, r := range ranges {
		if !math.IsInf(r.rng.low, -1) {
			bounds = append(bounds, r.rng.low)
		}
		if !math.IsInf(r.rng.high, 1) {
			bounds = append(bounds, r.rng.high)
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	t := &rangeTree{bounds: bounds, slots: 2*len(bounds) + 1}
	size := 1
	for size < t.slots {
		size <<= 1
	}
	t.nodes = make([][]*state, 2*size)
	for _, r := range ranges {
		first, last := t.slotSpan(r.rng)
		if first <= last {
			t.insert(1, 0, size-1, first, last, r.next)
		}
	}
	return t
}

// slot numbering: 0 is below every bound, 2i+1 is bounds[i] itself, 2i+2 the gap after bounds[i].
func (t *rangeTree) boundIndex(x float64) int {
	i, _ := slices.BinarySearch(t.bounds, x)
	return i
}

func (t *rangeTree) slotOf(x float64) int {
	i, found := slices.BinarySearch(t.bounds, x)
	if found {
		return 2*i + 1
	}
	return 2 * i
}

func (t *rangeTree) slotSpan(r numRange) (int, int) {
	first, last := 0, t.slots-1
	if !math.IsInf(r.low, -1) {
		first = 2*t.boundIndex(r.low) + 1
		if r.lowOpen {
			first++
		}
	}
	if !math.IsInf(r.high, 1) {
		last = 2*t.boundIndex(r.high) + 1
		if r.highOpen {
			last--
		}
	}
	return first, last
}

func (t *rangeTree) insert(node, lo, hi, first, last int, next *state) {
	if last < lo || hi < first {
		return
	}
	if first <= lo && hi <= last {
		t.nodes[node] = append(t.nodes[node], next)
		return
	}
	mid := (lo + hi) / 2
	t.insert(2*node, lo, mid, first, last, next)
	t.insert(2*node+1, mid+1, hi, first, last, next)
}

func (t *rangeTree) collect(x float64, out []*state) []*state {
	slot := t.slotOf(x)
	node, lo, hi := 1, 0, len(t.nodes)/2-1
	for {
		out = appendStates(out, t.nodes[node])
		if lo == hi {
			return out
		}
		mid := (lo + hi) / 2
		if slot <= mid {
			node, hi = 2*node, mid
		} else {
			node, lo = 2*node+1, mid+1
		}
	}
}
