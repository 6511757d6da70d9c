package invoke

import (
	"fmt"
	"testing"
)

func TestTraceIDFormat(t *testing.T) {
	r := [12]byte{0x00, 0x01, 0xab, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80}
	for _, unix := range []uint32{0, 0x0a, 1764170000, 0xffffffff} {
		want := fmt.Sprintf("Root=1-%08x-%x;Parent=%x;Sampled=0", unix, r[:], r[:8])
		if got := string(appendTraceID(nil, unix, &r)); got != want {
			t.Errorf("%d: %q, want %q", unix, got, want)
		}
	}
	if id := traceID(); len(id) != 74 {
		t.Errorf("traceID() = %q (%d bytes), want 74", id, len(id))
	}
}
