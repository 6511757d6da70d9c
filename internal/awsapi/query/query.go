// Package query holds what the AWS query protocol (form-encoded requests,
// XML answers) needs in every service that speaks it: SQS for the AWS CLI,
// and SNS.
package query

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Indexes returns the N of every "prefix.N" or "prefix.N.*" key of a query
// form, in numeric order (lists are encoded as prefix.1, prefix.2 ...).
func Indexes(form url.Values, prefix string) []string {
	seen := map[int]bool{}
	for k := range form {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(n); err == nil {
			seen[i] = true
		}
	}
	ints := make([]int, 0, len(seen))
	for i := range seen {
		ints = append(ints, i)
	}
	sort.Ints(ints)
	out := make([]string, len(ints))
	for i, n := range ints {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// Tag writes <name>value</name> with value escaped.
func Tag(b *strings.Builder, name, value string) {
	b.WriteString("<" + name + ">")
	Escape(b, value)
	b.WriteString("</" + name + ">")
}

// Escape writes s as XML character data, escaping as AWS does (carriage
// returns too, so they survive XML's line-end normalisation).
func Escape(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}
