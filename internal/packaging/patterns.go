package packaging

import (
	"path"
	"strings"
)

// pattern is one Serverless package pattern: a glob over slash-separated
// paths relative to the service directory, "!" to exclude. Globs follow
// micromatch with dot files matched: * and ? stay within a path segment, **
// as a whole segment spans any number of segments (including none), [...]
// is a class and {a,b} alternatives.
type pattern struct {
	exclude      bool
	alternatives [][]string // brace-expanded, split into segments
}

func compilePattern(p string) pattern {
	var c pattern
	if rest, ok := strings.CutPrefix(p, "!"); ok {
		c.exclude, p = true, rest
	}
	for _, alt := range expandBraces(p) {
		alt = strings.TrimPrefix(alt, "./")
		alt = strings.TrimSuffix(alt, "/")
		c.alternatives = append(c.alternatives, strings.Split(alt, "/"))
	}
	return c
}

func (c pattern) match(name string) bool {
	segs := strings.Split(name, "/")
	for _, alt := range c.alternatives {
		if matchSegments(alt, segs) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// ** absorbs zero or more segments; try each split.
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		ok, err := path.Match(pat[0], name[0])
		if err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// expandBraces turns a{b,c}d into abd and acd, nesting included.
func expandBraces(p string) []string {
	depth, open := 0, -1
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth == 0 {
				var out []string
				for _, alt := range splitTopLevel(p[open+1 : i]) {
					for _, rest := range expandBraces(alt + p[i+1:]) {
						out = append(out, p[:open]+rest)
					}
				}
				if len(out) > 1 || strings.Contains(p[open+1:i], ",") {
					return out
				}
				return []string{p} // {x} without a comma is literal
			}
		}
	}
	return []string{p}
}

func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// selectFiles applies patterns in order to every file: all are included to
// begin with, and each later pattern overrides the earlier ones, as in
// Serverless.
func selectFiles(files []file, patterns []string) []file {
	compiled := make([]pattern, len(patterns))
	for i, p := range patterns {
		compiled[i] = compilePattern(p)
	}
	var out []file
	for _, f := range files {
		included := true
		for _, p := range compiled {
			if p.exclude == included && p.match(f.rel) {
				included = !p.exclude
			}
		}
		if included {
			out = append(out, f)
		}
	}
	return out
}
