package query

import (
	"encoding/xml"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestIndexes(t *testing.T) {
	form := url.Values{
		"Entries.member.10.Id": {"j"}, "Entries.member.2.Id": {"b"}, "Entries.member.1.Id": {"a"},
		"Entries.member.2.Body": {"x"}, "Entries.member.x.Id": {"bad"}, "Other.1": {"o"}, "Entries.member": {"no"},
	}
	if got, want := Indexes(form, "Entries.member"), []string{"1", "2", "10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Indexes = %v, want %v", got, want)
	}
	if got := Indexes(form, "Missing"); len(got) != 0 {
		t.Errorf("Indexes of a missing prefix = %v", got)
	}
}

func TestTagEscapesAndRoundTrips(t *testing.T) {
	value := "a<b>&\"c' \r\n ünï"
	var b strings.Builder
	Tag(&b, "Body", value)
	var decoded struct {
		Body string `xml:",chardata"`
	}
	if err := xml.Unmarshal([]byte(b.String()), &decoded); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if decoded.Body != value {
		t.Errorf("round trip gave %q, want %q (%s)", decoded.Body, value, b.String())
	}
}
