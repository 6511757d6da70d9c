package tables

import (
	"encoding/binary"
)

// Storage layout in the engine (one keyspace):
//
//	'm' name                         → table metadata (JSON)
//	'i'                              → the next table id
//	'd' table(4) index(1) hash(4) pk sk [table pk, table sk]  → item
//
// Index 0 is the table itself; secondary indexes have ids from 1 and repeat
// the table's key after their own so entries stay unique. hash is FNV-1a of
// the encoded partition key, so a Scan visits partitions in hash order (as
// DynamoDB does) and parallel scan segments are contiguous hash ranges, while
// a Query is one range scan under a partition's prefix. Table ids are never
// reused, so a deleted table's leftovers can never reappear.
const (
	prefixMeta   = 'm'
	prefixNextID = 'i'
	prefixData   = 'd'
	prefixToken  = 't' // 't' token → time(8) fingerprint: TransactWriteItems' ClientRequestToken
)

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

func indexPrefix(tableID uint32, index byte) []byte {
	b := make([]byte, 0, 64)
	b = append(b, prefixData)
	b = binary.BigEndian.AppendUint32(b, tableID)
	return append(b, index)
}

func tablePrefix(tableID uint32) []byte {
	b := []byte{prefixData}
	return binary.BigEndian.AppendUint32(b, tableID)
}

// appendKeyValue appends an order-preserving, self-delimiting encoding of a
// key attribute (S, N or B). Strings and binaries compare bytewise, as
// DynamoDB orders them; 0x00 is escaped as 0x00 0xFF and the end is 0x00 0x01.
func appendKeyValue(dst []byte, v Value) []byte {
	switch v.Kind {
	case KindN:
		return appendNumberKey(dst, v.S)
	case KindS:
		return appendEscaped(dst, v.S, true)
	default:
		return appendEscaped(dst, v.B, true)
	}
}

func appendEscaped[T string | []byte](dst []byte, b T, terminate bool) []byte {
	for i := 0; i < len(b); i++ {
		if c := b[i]; c == 0 {
			dst = append(dst, 0, 0xFF)
		} else {
			dst = append(dst, c)
		}
	}
	if terminate {
		dst = append(dst, 0, 1)
	}
	return dst
}

// appendKeyPrefix appends the encoding of a string or binary without its
// terminator: the common prefix of every longer value (begins_with).
func appendKeyPrefix(dst []byte, v Value) []byte {
	if v.Kind == KindS {
		return appendEscaped(dst, v.S, false)
	}
	return appendEscaped(dst, v.B, false)
}

// partitionPrefix is the key prefix of one partition of an index.
func partitionPrefix(tableID uint32, index byte, pk Value) []byte {
	// One buffer (room for a sort key after it): the encoded partition key
	// is written in place and hashed there, the hash put before it.
	b := indexPrefix(tableID, index)
	n := len(b)
	b = append(b, 0, 0, 0, 0)
	b = appendKeyValue(b, pk)
	h := uint32(2166136261) // FNV-1a, as hash/fnv's New32a, without its allocation
	for _, c := range b[n+4:] {
		h = (h ^ uint32(c)) * 16777619
	}
	binary.BigEndian.PutUint32(b[n:], h)
	return b
}

// prefixEnd is the smallest key above every key that starts with prefix (nil:
// no bound).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
