package manifest

import (
	"bytes"
	"fmt"
	"strings"
)

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

// maxFlowDepth bounds the nesting of flow collections ([...] and {...}):
// the YAML parser's time grows with the square of it (50,000 levels, 100 KB,
// took 9 s).
const maxFlowDepth = 256

// flowTooDeep finds where flow collections first nest deeper than
// maxFlowDepth, skipping quoted scalars and comments. It is a cheap scan
// before the parser, not a YAML lexer: it may count a bracket of a plain
// or block scalar, which only matters for text no real manifest holds.
func flowTooDeep(data []byte) (line, col int, found bool) {
	line, col = 1, 0
	depth := 0
	var quote byte
	prev := byte('\n')
	for i := 0; i < len(data); i++ {
		c := data[i]
		col++
		if c == '\n' {
			line, col = line+1, 0
			if quote == 0 {
				prev = c
				continue
			}
		}
		switch {
		case quote == '"' && c == '\\':
			i++
			col++
		case quote != 0:
			if c == quote {
				if quote == '\'' && i+1 < len(data) && data[i+1] == '\'' {
					i++ // '' is a quote inside a single-quoted scalar
					col++
				} else {
					quote = 0
				}
			}
		case c == '#' && (prev == ' ' || prev == '\t' || prev == '\n'):
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case (c == '"' || c == '\'') && strings.IndexByte(" \t\n[{,:-", prev) >= 0:
			quote = c
		case c == '[' || c == '{':
			if depth++; depth > maxFlowDepth {
				return line, col, true
			}
		case (c == ']' || c == '}') && depth > 0:
			depth--
		}
		prev = c
	}
	return 0, 0, false
}

// blockTooDeep finds a line that opens more than maxFlowDepth block
// collections at once ("- - - - x", "? ? ? x"): block nesting costs the
// parser as much as flow nesting does, and a line needs no indentation to
// nest this way.
func blockTooDeep(data []byte) (line, col int, found bool) {
	line = 1
	for start := 0; start < len(data); line++ {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		depth := 0
		for i := start; i < end; i++ {
			c := data[i]
			if c == ' ' || c == '\t' {
				continue
			}
			if (c == '-' || c == '?' || c == ':') && (i+1 == end || data[i+1] == ' ' || data[i+1] == '\t') {
				if depth++; depth > maxFlowDepth {
					return line, i - start + 1, true
				}
				continue
			}
			break
		}
		start = end + 1
	}
	return 0, 0, false
}
