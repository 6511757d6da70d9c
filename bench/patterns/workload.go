package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/events/pattern"
)

// sampleEventIndented is an EventBridge event of the usual shape: envelope fields, and a detail with
// nested objects, an array of objects and a list of strings. Buses carry it compact (sampleEvent).
const sampleEventIndented = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "Order Placed",
  "source": "com.example.svc007",
  "account": "111122223333",
  "time": "2026-03-14T15:09:26Z",
  "region": "eu-west-1",
  "resources": ["arn:aws:dynamodb:eu-west-1:111122223333:table/orders"],
  "detail": {
    "orderId": "ord-5512-8831",
    "status": "PLACED",
    "amount": 149.95,
    "currency": "EUR",
    "channel": "web",
    "clientIp": "203.0.113.42",
    "customer": {"id": "c-88121", "tier": "gold", "country": "DE", "email": "ana@example.com"},
    "items": [
      {"sku": "SKU-1001", "quantity": 2, "price": 49.99},
      {"sku": "SKU-2040", "quantity": 1, "price": 49.97}
    ],
    "tags": ["gift", "express"],
    "metadata": {"traceId": "1-5f84c7a5-9d1ba0c1d6b5b0c2a8d6e4f1", "retries": 0}
  }
}`

var (
	detailTypes = []string{"Order Placed", "Order Shipped", "Order Cancelled", "Payment Captured",
		"Payment Failed", "Refund Issued", "Customer Created", "Customer Updated", "Cart Abandoned",
		"Inventory Low", "Shipment Delayed", "Invoice Issued", "Review Posted", "Coupon Redeemed",
		"Subscription Renewed", "Subscription Cancelled", "Return Requested", "Return Received",
		"Fraud Suspected", "Address Changed", "Login Failed", "Password Reset", "Order Updated",
		"Price Changed", "Stock Reserved", "Stock Released", "Delivery Confirmed", "Ticket Opened",
		"Ticket Closed", "Points Awarded"}
	statuses   = []string{"PLACED", "PAID", "SHIPPED", "CANCELLED", "REFUNDED", "FAILED"}
	currencies = []string{"EUR", "USD", "GBP", "JPY", "CHF"}
	tiers      = []string{"gold", "silver", "bronze", "platinum"}
	countries  = []string{"DE", "FR", "US", "GB", "NL", "ES", "IT", "JP"}
	channels   = []string{"web", "ios", "android", "store", "partner"}
)

var sampleEvent = compactJSON(sampleEventIndented)

func compactJSON(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.String()
}

const sourceCount = 200

// generateRules writes n patterns like the ones teams attach to a bus: a source, usually a
// detail-type, and one to three detail conditions with mixed operators. Sources and detail-types are
// spread over realistic pools, so most rules do not match sampleEvent, some nearly do, a few do.
func generateRules(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	q := strconv.Quote
	detailCondition := func() (string, string) {
		switch r.IntN(12) {
		case 0:
			return "status", "[" + q(pick(statuses)) + "]"
		case 1:
			return "status", `[{"anything-but":[` + q(pick(statuses)) + "," + q(pick(statuses)) + `]}]`
		case 2:
			lo := r.IntN(500)
			return "amount", fmt.Sprintf(`[{"numeric":[">=",%d,"<",%d]}]`, lo, lo+1+r.IntN(500))
		case 3:
			return "currency", "[" + q(pick(currencies)) + "," + q(pick(currencies)) + "]"
		case 4:
			return "customer", `{"tier":[` + q(pick(tiers)) + `]}`
		case 5:
			return "customer", `{"country":[{"anything-but":` + q(pick(countries)) + `}]}`
		case 6:
			return "channel", `[{"equals-ignore-case":` + q(strings.ToUpper(pick(channels))) + `}]`
		case 7:
			return "clientIp", fmt.Sprintf(`[{"cidr":"%d.%d.0.0/16"}]`, 198+r.IntN(8), r.IntN(256))
		case 8:
			return "orderId", fmt.Sprintf(`[{"prefix":"ord-%d"}]`, r.IntN(10000))
		case 9:
			return "items", fmt.Sprintf(`{"sku":[{"wildcard":"SKU-%d*"}],"quantity":[{"numeric":[">",%d]}]}`, r.IntN(10), r.IntN(3))
		case 10:
			return "metadata", `{"traceId":[{"exists":true}]}`
		default:
			return "customer", `{"email":[{"suffix":"@` + pick([]string{"example.com", "example.org", "mail.test"}) + `"}]}`
		}
	}
	patterns := make([][]byte, n)
	for i := range patterns {
		fields := map[string]string{}
		for range 1 + r.IntN(3) {
			k, v := detailCondition()
			fields[k] = v
		}
		var detail []string
		for k, v := range fields {
			detail = append(detail, q(k)+":"+v)
		}
		parts := []string{fmt.Sprintf(`"source":["com.example.svc%03d"]`, r.IntN(sourceCount))}
		if r.IntN(10) < 8 {
			parts = append(parts, `"detail-type":[`+q(pick(detailTypes))+`]`)
		}
		parts = append(parts, `"detail":{`+strings.Join(detail, ",")+`}`)
		patterns[i] = []byte("{" + strings.Join(parts, ",") + "}")
	}
	return patterns
}

// buildMatcher compiles n generated rules into one matcher.
func buildMatcher(n int) (*pattern.Matcher, error) {
	m := pattern.New()
	for i, p := range generateRules(n, 42) {
		if err := m.Add(fmt.Sprint("rule-", i), p); err != nil {
			return nil, fmt.Errorf("rule %d %s: %w", i, p, err)
		}
	}
	return m, nil
}
