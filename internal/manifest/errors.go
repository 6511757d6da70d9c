package manifest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Error is one problem found in a manifest, placed at the line and column of
// the value (or key) that causes it.
type Error struct {
	File    string // path of the file as given to Load, e.g. "serverless.yml"
	Line    int    // 1-based; 0 when the problem has no single place
	Column  int    // 1-based
	Message string
	Source  string // the offending source line, without its newline
	Hint    string // what to do about it; may be empty
}

// Error formats the problem the way compilers do, with the source line and a
// caret under the column.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
	} else {
		fmt.Fprintf(&b, "%s: %s", e.File, e.Message)
	}
	if e.Line > 0 && e.Source != "" {
		num := fmt.Sprint(e.Line)
		pad := strings.Repeat(" ", len(num))
		fmt.Fprintf(&b, "\n  %s | %s\n  %s | %s^", num, e.Source, pad, caretIndent(e.Source, e.Column))
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\nhint: %s", e.Hint)
	}
	return b.String()
}

// caretIndent reproduces the whitespace before the column so that the caret
// lines up even when the source line has tabs.
func caretIndent(line string, column int) string {
	var b strings.Builder
	n := 0
	for _, r := range line {
		if n >= column-1 {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
		n++
	}
	for ; n < column-1; n++ {
		b.WriteByte(' ')
	}
	return b.String()
}

// ErrorList holds every problem found in a manifest, in source order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	s := strings.Join(parts, "\n\n")
	if len(l) > 1 {
		s += fmt.Sprintf("\n\n%d errors", len(l))
	}
	return s
}

// Unwrap lets errors.As find the individual errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// source is one YAML file read by the loader (the manifest or a file()
// reference), kept for positions and source lines.
type source struct {
	name  string
	lines []string
}

func newSource(name string, data []byte) *source {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	return &source{name: name, lines: strings.Split(text, "\n")}
}

func (s *source) line(n int) string {
	if s == nil || n < 1 || n > len(s.lines) {
		return ""
	}
	return s.lines[n-1]
}

// position is where a node starts. A zero position means "nowhere in
// particular" (for values nimbus made up, such as defaults).
type position struct {
	src  *source
	line int
	col  int
}

func (p position) valid() bool { return p.src != nil && p.line > 0 }

// diagnostics collects errors and warnings while loading.
type diagnostics struct {
	file     string // fallback name for errors without a position
	errs     ErrorList
	warnings ErrorList
	// expansion travels with the diagnostics because both belong to one
	// load, across the manifest and the files it references.
	expansion expansion
}

func (d *diagnostics) newError(pos position, hint, format string, args ...any) *Error {
	e := &Error{File: d.file, Message: fmt.Sprintf(format, args...), Hint: hint}
	if pos.valid() {
		e.File = pos.src.name
		e.Line = pos.line
		e.Column = pos.col
		e.Source = pos.src.line(pos.line)
	}
	return e
}

// sorted returns the errors in file order; errors without a place go last.
func (d *diagnostics) sorted() ErrorList {
	out := slices.Clone(d.errs)
	slices.SortStableFunc(out, func(a, b *Error) int {
		if placedA, placedB := a.Line > 0, b.Line > 0; placedA != placedB {
			if placedA {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return out
}

func (d *diagnostics) errorf(pos position, hint, format string, args ...any) {
	d.errs = append(d.errs, d.newError(pos, hint, format, args...))
}

func (d *diagnostics) warnf(pos position, hint, format string, args ...any) {
	d.warnings = append(d.warnings, d.newError(pos, hint, format, args...))
}

// suggest returns the candidate closest to word when it is close enough to be
// a likely typo, or "".
func suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if strings.EqualFold(c, word) {
			return c
		}
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, min(3, utf8.RuneCountInString(word)/3))
	if bestDist >= 0 && bestDist <= limit {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
