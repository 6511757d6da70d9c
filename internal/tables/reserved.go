package tables

import (
	_ "embed"
	"strings"
)

// reservedWordsText is DynamoDB's list of reserved words, as AWS's
// developer guide gives it ("Reserved words in DynamoDB"): an expression
// must name such an attribute through ExpressionAttributeNames.
//
//go:embed reserved_words.txt
var reservedWordsText string

// reservedWords is the list as a set (built once, never changed).
var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(reservedWordsText) {
		m[w] = true
	}
	return m
}()

// isReserved reports whether name is a reserved word (in any case).
func isReserved(name string) bool {
	return len(name) <= 16 && reservedWords[strings.ToUpper(name)]
}
