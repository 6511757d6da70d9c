package manifest

import "fmt"

// A few hundred bytes of YAML can describe gigabytes: nested aliases
// multiply lists, and ${self:} references double strings. These limits are
// far above what a real manifest needs and far below what hurts a laptop.
const (
	// maxValues bounds the values (scalars, maps, lists) of the loaded tree
	// after aliases, merge keys and ${self:} copies are expanded.
	maxValues = 250_000
	// maxStringBytes bounds one string made by variable resolution.
	maxStringBytes = 1 << 20
	// maxExpandedBytes bounds the text of every value copied or made while
	// loading, so the tree cannot reference a long string too many times.
	maxExpandedBytes = 32 << 20
	// maxVariableDepth bounds variables whose values hold variables.
	maxVariableDepth = 64
)

// expansion counts what one load has built, across the manifest and the
// files it references.
type expansion struct {
	values    int
	bytes     int
	exhausted bool // reported once; later values fail quietly
}

// errTooBig is reported at the value that went over a limit.
type errTooBig struct{ what string }

func (e errTooBig) Error() string { return e.what }

const tooBigHint = "a manifest this large is almost certainly a mistake (or an attack): aliases and ${self:} references must not multiply values without bound"

// add charges n values and b bytes; it fails when a limit is passed.
func (x *expansion) add(n, b int) error {
	x.values += n
	x.bytes += b
	switch {
	case x.values > maxValues:
		return errTooBig{fmt.Sprintf("the manifest expands to more than %d values", maxValues)}
	case x.bytes > maxExpandedBytes:
		return errTooBig{fmt.Sprintf("the manifest expands to more than %d MB of text", maxExpandedBytes>>20)}
	}
	return nil
}

// measure counts the values and string bytes of a subtree, stopping early
// once it is over the limits (the caller refuses it then anyway).
func (n *node) measure() (values, bytes int) {
	var walk func(*node)
	walk = func(n *node) {
		if values > maxValues || bytes > maxExpandedBytes {
			return
		}
		values++
		bytes += len(n.str)
		for _, e := range n.entries {
			bytes += len(e.key)
			walk(e.val)
		}
		for _, it := range n.items {
			walk(it)
		}
	}
	walk(n)
	return values, bytes
}
