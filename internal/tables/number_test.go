package tables

import (
	"bytes"
	"sort"
	"testing"
)

func TestParseNumber(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"0", "0", ""},
		{"-0", "0", ""},
		{"0.000", "0", ""},
		{"01.50", "1.5", ""},
		{"1e2", "100", ""},
		{"-1.25E-3", "-0.00125", ""},
		{"+7", "7", ""},
		{".5", "0.5", ""},
		{"12345678901234567890123456789012345678", "12345678901234567890123456789012345678", ""},
		{"123456789012345678901234567890123456789", "", "Attempting to store more than 38 significant digits in a Number"},
		{"1E+126", "", "Number overflow. Attempting to store a number with magnitude larger than supported range"},
		{"1E-131", "", "Number underflow. Attempting to store a number with magnitude smaller than supported range"},
		{"1E-130", "0." + string(bytes.Repeat([]byte("0"), 129)) + "1", ""},
		{"abc", "", "A value provided cannot be converted into a number"},
		{"", "", "A value provided cannot be converted into a number"},
		{"NaN", "", "A value provided cannot be converted into a number"},
		{"Infinity", "", "A value provided cannot be converted into a number"},
	} {
		got, err := ParseNumber(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseNumber(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseNumber(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNumberKeyOrder(t *testing.T) {
	// In ascending numeric order.
	ordered := []string{
		"-9.9999999999999999999999999999999999999E+125", "-1E+20", "-1000", "-999.5", "-100", "-99", "-12",
		"-1.5", "-1.25", "-1.2", "-1", "-0.5", "-0.123", "-0.12", "-1E-130", "0",
		"1E-130", "0.000001", "0.12", "0.123", "0.5", "1", "1.2", "1.25", "1.5", "2", "9.99", "10", "12", "99", "100",
		"100.0001", "1E+20", "12345678901234567890123456789012345678", "9.9999999999999999999999999999999999999E+125",
	}
	keys := make([][]byte, len(ordered))
	for i, s := range ordered {
		n, err := ParseNumber(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		keys[i] = appendNumberKey(nil, n)
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) >= 0 {
			t.Errorf("key(%s) = %x is not below key(%s) = %x", ordered[i-1], keys[i-1], ordered[i], keys[i])
		}
	}
	// Equal numbers written differently encode the same.
	a, _ := ParseNumber("1.50")
	b, _ := ParseNumber("15e-1")
	if !bytes.Equal(appendNumberKey(nil, a), appendNumberKey(nil, b)) {
		t.Error("1.50 and 15e-1 encode differently")
	}
	// Self-delimiting: a number followed by more bytes still sorts by the number.
	shuffled := [][]byte{append(appendNumberKey(nil, "1.2"), 0xFF), append(appendNumberKey(nil, "1.25"), 0x00)}
	sort.Slice(shuffled, func(i, j int) bool { return bytes.Compare(shuffled[i], shuffled[j]) < 0 })
	if !bytes.HasPrefix(shuffled[0], appendNumberKey(nil, "1.2")) {
		t.Error("a suffix changed the order of 1.2 and 1.25")
	}
}

func TestAddNumbers(t *testing.T) {
	for _, c := range []struct {
		a, b   string
		negate bool
		want   string
	}{
		{"1", "2", false, "3"},
		{"0.1", "0.2", false, "0.3"},
		{"10", "10.5", true, "-0.5"},
		{"99999999999999999999999999999999999999", "1", true, "99999999999999999999999999999999999998"},
		{"-5", "5", false, "0"},
	} {
		got, err := addNumbers(c.a, c.b, c.negate)
		if err != nil || got != c.want {
			t.Errorf("addNumbers(%s, %s, %v) = %s, %v; want %s", c.a, c.b, c.negate, got, err, c.want)
		}
	}
	if _, err := addNumbers("99999999999999999999999999999999999999", "0.1", false); err == nil {
		t.Error("a 39-digit sum was accepted")
	}
}
