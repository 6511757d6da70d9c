package jsonproto

// Strings are scanned eight bytes at a time while no byte needs attention:
// most values are plain ASCII, and an item's large attributes (a 1 KB
// string) were scanned a byte at a time on every read and write.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// word8 is the eight bytes of s from i, the first in the lowest byte
// (the compiler merges the loads into one).
func word8[T string | []byte](s T, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// hasByte reports whether a byte of w is c.
func hasByte8(w uint64, c byte) bool {
	x := w ^ (lsb * uint64(c))
	return (x-lsb)&^x&msb != 0
}

// plainWord reports whether the eight bytes of w are ASCII, not control
// characters, and none of '"' and '\\': nothing a JSON string must escape.
func plainWord(w uint64) bool {
	return w&msb == 0 && // ASCII (then the test below for < 0x20 is exact)
		(w-lsb*0x20)&^w&msb == 0 &&
		!hasByte8(w, '"') && !hasByte8(w, '\\')
}

// plainHTMLWord is plainWord also without '<', '>' and '&', which
// encoding/json escapes.
func plainHTMLWord(w uint64) bool {
	return plainWord(w) && !hasByte8(w, '<') && !hasByte8(w, '>') && !hasByte8(w, '&')
}
