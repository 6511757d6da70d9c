package tables

import (
	"encoding/binary"
	"errors"
)

// Items are stored in a compact binary form (a format byte, then the item):
//
//	item  = uvarint(n) { uvarint(len) name value }
//	value = kind byte, then S/N/B: uvarint(len) bytes; BOOL: 0|1; NULL: nothing;
//	        M: item; L: uvarint(n) value…; SS/NS/BS: uvarint(n) { uvarint(len) bytes }
const codecV1 = 1

var errCorrupt = errors.New("tables: stored item is corrupt")

func encodeItem(it Item) ([]byte, error) {
	b := make([]byte, 0, 64+it.Size())
	b = append(b, codecV1)
	return appendItemBinary(b, it), nil
}

func appendItemBinary(b []byte, it Item) []byte {
	b = binary.AppendUvarint(b, uint64(len(it)))
	for k, v := range it {
		b = appendBytes(b, k)
		b = appendValueBinary(b, v)
	}
	return b
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValueBinary(b []byte, v Value) []byte {
	b = append(b, byte(v.Kind))
	switch v.Kind {
	case KindS, KindN:
		b = appendBytes(b, v.S)
	case KindB:
		b = appendBytes(b, v.B)
	case KindBOOL:
		if v.Bool {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case KindM:
		b = appendItemBinary(b, v.M)
	case KindL:
		b = binary.AppendUvarint(b, uint64(len(v.L)))
		for _, e := range v.L {
			b = appendValueBinary(b, e)
		}
	case KindSS, KindNS:
		b = binary.AppendUvarint(b, uint64(len(v.SS)))
		for _, s := range v.SS {
			b = appendBytes(b, s)
		}
	case KindBS:
		b = binary.AppendUvarint(b, uint64(len(v.BS)))
		for _, e := range v.BS {
			b = appendBytes(b, e)
		}
	}
	return b
}

func decodeItem(data []byte) (Item, error) {
	if len(data) == 0 || data[0] != codecV1 {
		return nil, errCorrupt
	}
	d := decoder{b: data[1:]}
	it := d.item()
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return it, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() int {
	n, size := binary.Uvarint(d.b)
	if size <= 0 || n > uint64(len(d.b)) {
		d.err = errCorrupt
		d.b = nil
		return 0
	}
	d.b = d.b[size:]
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > len(d.b) {
		d.err = errCorrupt
		d.b = nil
		return nil
	}
	out := make([]byte, n)
	copy(out, d.b)
	d.b = d.b[n:]
	return out
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > len(d.b) {
		d.err = errCorrupt
		d.b = nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) item() Item {
	n := d.uvarint()
	it := make(Item, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		it[k] = d.value()
	}
	return it
}

func (d *decoder) value() Value {
	if len(d.b) == 0 {
		d.err = errCorrupt
		return Value{}
	}
	v := Value{Kind: Kind(d.b[0])}
	d.b = d.b[1:]
	switch v.Kind {
	case KindS, KindN:
		v.S = d.str()
	case KindB:
		v.B = d.bytes()
	case KindBOOL:
		if len(d.b) == 0 {
			d.err = errCorrupt
			return v
		}
		v.Bool = d.b[0] == 1
		d.b = d.b[1:]
	case KindNULL:
		v.Bool = true
	case KindM:
		v.M = d.item()
	case KindL:
		n := d.uvarint()
		v.L = make([]Value, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			v.L = append(v.L, d.value())
		}
	case KindSS, KindNS:
		n := d.uvarint()
		v.SS = make([]string, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			v.SS = append(v.SS, d.str())
		}
	case KindBS:
		n := d.uvarint()
		v.BS = make([][]byte, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			v.BS = append(v.BS, d.bytes())
		}
	default:
		d.err = errCorrupt
	}
	return v
}
