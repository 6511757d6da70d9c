package tables

import (
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// DynamoDB's number limits: 38 significant digits, magnitudes from 1E-130 to
// 9.9999999999999999999999999999999999999E+125.
const (
	maxNumberDigits = 38
	maxNumberExp    = 125  // largest scientific exponent
	minNumberExp    = -130 // smallest scientific exponent
)

// exactContext computes sums exactly; results are then checked against
// DynamoDB's limits like any stored number.
var exactContext = apd.Context{Precision: 400, MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent, Traps: apd.DefaultTraps}

// ParseNumber validates a DynamoDB number and returns its canonical text:
// no exponent, no leading or trailing zeros ("01.50" → "1.5", "1e2" → "100").
func ParseNumber(text string) (string, error) {
	d, err := parseDecimal(text)
	if err != nil {
		return "", err
	}
	return canonical(d)
}

func parseDecimal(text string) (*apd.Decimal, error) {
	t := strings.TrimSpace(text)
	d, _, err := apd.NewFromString(t)
	if err != nil || d.Form != apd.Finite || t == "" {
		return nil, validationf("A value provided cannot be converted into a number")
	}
	return d, nil
}

func canonical(d *apd.Decimal) (string, error) {
	var r apd.Decimal
	r.Reduce(d)
	if r.IsZero() {
		return "0", nil
	}
	digits := r.Coeff.String()
	if len(digits) > maxNumberDigits {
		return "", validationf("Attempting to store more than 38 significant digits in a Number")
	}
	sciExp := int(r.Exponent) + len(digits) - 1
	if sciExp > maxNumberExp {
		return "", validationf("Number overflow. Attempting to store a number with magnitude larger than supported range")
	}
	if sciExp < minNumberExp {
		return "", validationf("Number underflow. Attempting to store a number with magnitude smaller than supported range")
	}
	return r.Text('f'), nil
}

// compareNumbers orders two canonical numbers.
func compareNumbers(a, b string) (int, error) {
	x, err := parseDecimal(a)
	if err != nil {
		return 0, err
	}
	y, err := parseDecimal(b)
	if err != nil {
		return 0, err
	}
	return x.Cmp(y), nil
}

// addNumbers returns a+b (or a-b when negate) within DynamoDB's limits.
func addNumbers(a, b string, negate bool) (string, error) {
	x, err := parseDecimal(a)
	if err != nil {
		return "", err
	}
	y, err := parseDecimal(b)
	if err != nil {
		return "", err
	}
	var sum apd.Decimal
	if negate {
		_, err = exactContext.Sub(&sum, x, y)
	} else {
		_, err = exactContext.Add(&sum, x, y)
	}
	if err != nil {
		return "", validationf("Number overflow. Attempting to store a number with magnitude larger than supported range")
	}
	return canonical(&sum)
}

// appendNumberKey appends an order-preserving, self-delimiting encoding of a
// canonical number: byte order of encodings is numeric order.
//
//	negative: 0x01, ^(exponent+1000) as 2 bytes, each digit as 10-d, 0xFF
//	zero:     0x02
//	positive: 0x03, exponent+1000 as 2 bytes, each digit as d+1, 0x00
//
// where the number is ±0.d1d2…dn × 10^exponent with d1 ≠ 0 and dn ≠ 0. A
// larger exponent means a larger magnitude; with equal exponents the digits
// compare lexically, and a shorter digit string (terminator below every digit)
// is the smaller magnitude. Negatives invert all of it.
func appendNumberKey(dst []byte, text string) []byte {
	neg := strings.HasPrefix(text, "-")
	t := strings.TrimPrefix(text, "-")
	intPart, frac, _ := strings.Cut(t, ".")
	intPart = strings.TrimLeft(intPart, "0")
	var digits string
	var exp int
	if intPart != "" {
		digits = intPart + frac
		exp = len(intPart)
	} else {
		trimmed := strings.TrimLeft(frac, "0")
		exp = -(len(frac) - len(trimmed))
		digits = trimmed
	}
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return append(dst, 0x02)
	}
	e := uint16(exp + 1000)
	if neg {
		e = ^e
		dst = append(dst, 0x01, byte(e>>8), byte(e))
		for i := 0; i < len(digits); i++ {
			dst = append(dst, 10-(digits[i]-'0'))
		}
		return append(dst, 0xFF)
	}
	dst = append(dst, 0x03, byte(e>>8), byte(e))
	for i := 0; i < len(digits); i++ {
		dst = append(dst, digits[i]-'0'+1)
	}
	return append(dst, 0x00)
}
