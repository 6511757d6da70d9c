package pattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonKind is the type of a node in a parsed pattern document.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	switch k {
	case jsonNull:
		return "null"
	case jsonBool:
		return "a boolean"
	case jsonNumber:
		return "a number"
	case jsonString:
		return "a string"
	case jsonArray:
		return "an array"
	default:
		return "an object"
	}
}

// jsonNode is a pattern document parsed with its key order, duplicate keys and number literals kept:
// the compiler needs all three (duplicates are an error, numbers are matched by value and by literal).
type jsonNode struct {
	kind    jsonKind
	boolean bool
	text    string // string value, or the number literal exactly as written
	members []jsonMember
	items   []*jsonNode
}

type jsonMember struct {
	key   string
	value *jsonNode
}

// parseJSONTree parses one JSON document and rejects anything after it.
func parseJSONTree(doc []byte) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	root, err := readNode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("pattern is not valid JSON: unexpected data after the end of the pattern")
	}
	return root, nil
}

// maxPatternDepth bounds recursion on hostile input; real patterns nest a handful of levels.
const maxPatternDepth = 100

func readNode(dec *json.Decoder, depth int) (*jsonNode, error) {
	if depth > maxPatternDepth {
		return nil, fmt.Errorf("pattern nests deeper than %d levels", maxPatternDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, describeJSONError(err)
	}
	switch v := tok.(type) {
	case nil:
		return &jsonNode{kind: jsonNull}, nil
	case bool:
		return &jsonNode{kind: jsonBool, boolean: v}, nil
	case json.Number:
		return &jsonNode{kind: jsonNumber, text: string(v)}, nil
	case string:
		return &jsonNode{kind: jsonString, text: v}, nil
	case json.Delim:
		switch v {
		case '{':
			node := &jsonNode{kind: jsonObject}
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return nil, describeJSONError(err)
				}
				key, _ := keyTok.(string)
				value, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				node.members = append(node.members, jsonMember{key: key, value: value})
			}
			if _, err := dec.Token(); err != nil {
				return nil, describeJSONError(err)
			}
			return node, nil
		case '[':
			node := &jsonNode{kind: jsonArray}
			for dec.More() {
				item, err := readNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				node.items = append(node.items, item)
			}
			if _, err := dec.Token(); err != nil {
				return nil, describeJSONError(err)
			}
			return node, nil
		}
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

func describeJSONError(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("pattern is not valid JSON: unexpected end of input")
	}
	return fmt.Errorf("pattern is not valid JSON: %v", err)
}
