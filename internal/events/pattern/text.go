package pattern

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// wildcard is a parsed wildcard operand: literal segments separated by '*'.
type wildcard struct {
	segments []string // len(segments) == number of '*' + 1; first and last may be empty
}

// literalPrefix is the text every matching value starts with; it indexes the wildcard.
func (w wildcard) literalPrefix() string { return w.segments[0] }

// parseWildcard reads EventBridge wildcard syntax: '*' matches any run of characters, "\*" is a literal
// star and "\\" a literal backslash. Consecutive stars are rejected, as EventBridge does, because they
// only add matching cost.
func parseWildcard(s string) (wildcard, error) {
	var segments []string
	var current strings.Builder
	previousStar := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return wildcard{}, fmt.Errorf("invalid escape at position %d: only \\* and \\\\ may be escaped", i)
			}
			i++
			current.WriteByte(s[i])
			previousStar = false
		case '*':
			if previousStar {
				return wildcard{}, fmt.Errorf("consecutive '*' at position %d; one star already matches any run", i)
			}
			segments = append(segments, current.String())
			current.Reset()
			previousStar = true
		default:
			current.WriteByte(c)
			previousStar = false
		}
	}
	segments = append(segments, current.String())
	return wildcard{segments: segments}, nil
}

// match reports whether value matches; greedy leftmost segment search is exact for '*'-only globs.
func (w wildcard) match(value string) bool {
	segs := w.segments
	if len(segs) == 1 {
		return value == segs[0]
	}
	first, last := segs[0], segs[len(segs)-1]
	if len(value) < len(first)+len(last) || !strings.HasPrefix(value, first) || !strings.HasSuffix(value, last) {
		return false
	}
	middle := value[len(first) : len(value)-len(last)]
	for _, seg := range segs[1 : len(segs)-1] {
		i := strings.Index(middle, seg)
		if i < 0 {
			return false
		}
		middle = middle[i+len(seg):]
	}
	return true
}

// foldCase maps s to a canonical case so equals-ignore-case compares folded strings. ASCII strings with
// no upper-case letters (most event values) are returned without allocating.
func foldCase(s string) string {
	needs := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			needs = true
			break
		}
	}
	if !needs {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(unicode.ToLower(unicode.ToUpper(r)))
	}
	return b.String()
}

// unescapeJSONString decodes the body of a JSON string (without quotes) that contains backslashes.
// validateEscapes reports what unescapeJSONString would refuse in body, without decoding it.
func validateEscapes(body string) error {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		i++
		if i >= len(body) {
			return errors.New("string ends in a backslash")
		}
		switch body[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if _, ok := hex4(body, i+1); !ok {
				return errors.New("invalid \\u escape")
			}
			i += 4
		default:
			return fmt.Errorf("invalid escape \\%c", body[i])
		}
	}
	return nil
}

func unescapeJSONString(body string) (string, error) {
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", errors.New("string ends in a backslash")
		}
		switch body[i] {
		case '"', '\\', '/':
			b.WriteByte(body[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(body, i+1)
			if !ok {
				return "", errors.New("invalid \\u escape")
			}
			i += 4
			if utf16IsSurrogate(r) {
				if low, ok := hex4(body, i+3); ok && i+2 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' &&
					low >= 0xDC00 && low < 0xE000 && r < 0xDC00 {
					r = 0x10000 + (r-0xD800)<<10 + (low - 0xDC00)
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			return "", fmt.Errorf("invalid escape \\%c", body[i])
		}
	}
	return b.String(), nil
}

func utf16IsSurrogate(r rune) bool { return r >= 0xD800 && r < 0xE000 }

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[at : at+4]) {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
