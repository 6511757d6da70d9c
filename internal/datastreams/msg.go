package datastreams

import (
	"encoding/base64"

	"github.com/nats-io/nats.go"
)

// hKey is the header that holds a record's partition key (base64: a key
// may hold characters a header cannot).
const hKey = "Kinesis-Partition-Key"

type jetstreamMsg struct {
	subject, key string
	data         []byte
}

func (m *jetstreamMsg) nats() *nats.Msg {
	msg := nats.NewMsg(m.subject)
	msg.Header.Set(hKey, base64.StdEncoding.EncodeToString([]byte(m.key)))
	msg.Data = m.data
	return msg
}

func decodeKey(h string) string {
	b, _ := base64.StdEncoding.DecodeString(h)
	return string(b)
}
