package tables

import "testing"

func TestCodecRoundTrip(t *testing.T) {
	it := Item{
		"s": S("héllo"), "e": S(""), "n": N("-1.5"), "b": B([]byte{0, 255}), "eb": B([]byte{}), "t": Bool(true), "f": Bool(false), "null": Null(),
		"m":  M(map[string]Value{"x": L(S("a"), M(map[string]Value{})), "y": Value{Kind: KindNS, SS: []string{"1", "2"}}}),
		"l":  L(),
		"ss": {Kind: KindSS, SS: []string{"a", "b"}},
		"bs": {Kind: KindBS, BS: [][]byte{{1}, {}}},
	}
	enc, err := encodeItem(it)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeItem(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !M(got).Equal(M(it)) {
		t.Fatalf("round trip changed the item:\n%+v\n%+v", got, it)
	}
	for i := 0; i < len(enc); i++ {
		if _, err := decodeItem(enc[:i]); err == nil {
			t.Fatalf("a truncated item (%d of %d bytes) decoded", i, len(enc))
		}
	}
}
