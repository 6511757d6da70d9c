package queues

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Attribute is a message attribute.
type Attribute struct {
	DataType    string  `json:"t"`
	StringValue *string `json:"s,omitempty"`
	BinaryValue []byte  `json:"b,omitempty"`
}

// SendInput is one message to send.
type SendInput struct {
	Body             string
	DelaySeconds     *int
	Attributes       map[string]Attribute
	SystemAttributes map[string]Attribute
	GroupID          string
	DedupID          string
}

// SendResult is what SendMessage answers.
type SendResult struct {
	MessageID      string
	MD5OfBody      string
	MD5OfAttrs     string
	MD5OfSysAttrs  string
	SequenceNumber string
}

// Message is a received message.
type Message struct {
	ID            string
	ReceiptHandle string
	Body          string
	MD5OfBody     string
	MD5OfAttrs    string
	Attributes    map[string]Attribute
	// System holds SentTimestamp, ApproximateReceiveCount, etc.
	System map[string]string
}

var attrNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,256}$`)

// validBody reports whether s has only the characters SQS accepts.
func validBody(s string) bool {
	for _, r := range s {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return utf8.ValidString(s)
}

func checkAttributes(attrs map[string]Attribute) (int, error) {
	if len(attrs) > 10 {
		return 0, errorf(InvalidParameterValue, "Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for name, a := range attrs {
		if !attrNameRE.MatchString(name) || strings.HasPrefix(strings.ToLower(name), "aws.") || strings.HasPrefix(strings.ToLower(name), "amazon.") ||
			strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return 0, errorf(InvalidParameterValue, "Message (user) attribute '%s' has an invalid name.", name)
		}
		base, _, _ := strings.Cut(a.DataType, ".")
		switch base {
		case "String", "Number":
			if a.StringValue == nil {
				return 0, errorf(InvalidParameterValue, "Message (user) attribute '%s' must contain a non-empty value of type '%s'.", name, base)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(*a.StringValue, 64); err != nil {
					return 0, errorf(InvalidParameterValue, "Could not cast message attribute '%s' value to number.", name)
				}
			}
			if !validBody(*a.StringValue) {
				return 0, errorf(InvalidParameterValue, "Message (user) attribute '%s' contains invalid characters.", name)
			}
			size += len(*a.StringValue)
		case "Binary":
			if a.BinaryValue == nil {
				return 0, errorf(InvalidParameterValue, "Message (user) attribute '%s' must contain a non-empty value of type 'Binary'.", name)
			}
			size += len(a.BinaryValue)
		default:
			return 0, errorf(InvalidParameterValue, "The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
		size += len(name) + len(a.DataType)
	}
	return size, nil
}

// MD5OfAttributes is the digest SQS computes over message attributes.
func MD5OfAttributes(attrs map[string]Attribute) string {
	if len(attrs) == 0 {
		return ""
	}
	h := md5.New()
	var l [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		put([]byte(name))
		put([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			h.Write([]byte{2})
			put(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			s := ""
			if a.StringValue != nil {
				s = *a.StringValue
			}
			put([]byte(s))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MD5OfBody is the hex MD5 of a message body.
func MD5OfBody(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// prepared is a checked message ready to publish.
type prepared struct {
	msg    *nats.Msg
	delay  int
	result SendResult
}

func (s *Service) prepare(q *queue, in *SendInput) (*prepared, error) {
	c := q.cfg
	if in.Body == "" {
		return nil, errorf(MissingParameter, "The request must contain the parameter MessageBody.")
	}
	if !validBody(in.Body) {
		return nil, errorf(InvalidMessageContents, "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	asize, err := checkAttributes(in.Attributes)
	if err != nil {
		return nil, err
	}
	if size := len(in.Body) + asize; size > c.MaximumMessageSize {
		return nil, errorf(InvalidParameterValue, "One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", c.MaximumMessageSize)
	}
	delay := c.DelaySeconds
	if in.DelaySeconds != nil {
		if c.FIFO {
			return nil, errorf(InvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *in.DelaySeconds)
		}
		if *in.DelaySeconds < 0 || *in.DelaySeconds > MaxDelaySeconds {
			return nil, errorf(InvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *in.DelaySeconds)
		}
		delay = *in.DelaySeconds
	}
	id := uuid.NewString()
	m := nats.NewMsg(subjPrefix + token(c.Name))
	m.Data = []byte(in.Body)
	m.Header.Set(hID, id)
	m.Header.Set(hSent, strconv.FormatInt(time.Now().UnixMilli(), 10))
	res := SendResult{MessageID: id, MD5OfBody: MD5OfBody(in.Body)}
	if len(in.Attributes) > 0 {
		b, _ := json.Marshal(in.Attributes)
		m.Header.Set(hAttrs, string(b))
		res.MD5OfAttrs = MD5OfAttributes(in.Attributes)
	}
	if len(in.SystemAttributes) > 0 {
		for k := range in.SystemAttributes {
			if k != "AWSTraceHeader" {
				return nil, errorf(InvalidParameterValue, "Message system attribute name '%s' is invalid.", k)
			}
		}
		b, _ := json.Marshal(in.SystemAttributes)
		m.Header.Set(hSysAttrs, string(b))
		res.MD5OfSysAttrs = MD5OfAttributes(in.SystemAttributes)
	}
	if c.FIFO {
		if in.GroupID == "" {
			return nil, errorf(MissingParameter, "The request must contain the parameter MessageGroupId.")
		}
		dedup := in.DedupID
		if dedup == "" {
			if !c.ContentBasedDeduplication {
				return nil, errorf(InvalidParameterValue, "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
			}
			sum := sha256.Sum256([]byte(in.Body))
			dedup = hex.EncodeToString(sum[:])
		}
		if len(dedup) > 128 || len(in.GroupID) > 128 {
			return nil, errorf(InvalidParameterValue, "MessageGroupId and MessageDeduplicationId can be up to 128 characters long.")
		}
		m.Header.Set(hGroup, in.GroupID)
		m.Header.Set(hDedup, dedup)
		m.Header.Set(nats.MsgIdHdr, c.Name+"/"+dedup)
	} else if in.DedupID != "" {
		return nil, errorf(InvalidParameterValue, "The request include parameter MessageDeduplicationId that is not valid for this queue type")
	}
	if delay > 0 {
		m.Subject = delayPrefix + token(c.Name)
		m.Header.Set(hQueue, c.Name)
		m.Header.Set(hNotBefore, strconv.FormatInt(time.Now().Add(time.Duration(delay)*time.Second).UnixMilli(), 10))
	}
	return &prepared{msg: m, delay: delay, result: res}, nil
}

// publish stores a prepared message; it is on disk when this returns.
func (s *Service) publish(ctx context.Context, q *queue, p *prepared) (SendResult, error) {
	ack, err := s.js.PublishMsg(ctx, p.msg)
	if err != nil {
		return SendResult{}, fmt.Errorf("store message: %w", err)
	}
	q.stored.Store(time.Now().UnixNano())
	res := p.result
	if q.cfg.FIFO {
		if ack.Duplicate {
			// Answer with the id of the message that was kept.
			if st, err := s.js.Stream(ctx, ack.Stream); err == nil {
				if raw, err := st.GetMsg(ctx, ack.Sequence); err == nil {
					if id := raw.Header.Get(hID); id != "" {
						res.MessageID = id
					}
				}
			}
		}
		res.SequenceNumber = fmt.Sprintf("%020d", ack.Sequence)
	}
	return res, nil
}

// Send stores one message.
func (s *Service) Send(ctx context.Context, queue string, in *SendInput) (SendResult, error) {
	q, err := s.open(ctx, queue)
	if err != nil {
		return SendResult{}, err
	}
	p, err := s.prepare(q, in)
	if err != nil {
		return SendResult{}, err
	}
	return s.publish(ctx, q, p)
}

// BatchResult is the outcome of one entry of a batch.
type BatchResult struct {
	ID     string
	Result SendResult
	Err    *Error
}

// CheckBatchIDs applies SQS's rules for batch entry ids.
func CheckBatchIDs(ids []string) error {
	if len(ids) == 0 {
		return errorf(EmptyBatchRequest, "There should be at least one SendMessageBatchRequestEntry in the request.")
	}
	if len(ids) > MaxBatchEntries {
		return errorf(TooManyEntriesInBatch, "Maximum number of entries per request are 10. You have sent %d.", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDRE.MatchString(id) {
			return errorf(InvalidBatchEntryID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return errorf(BatchEntryIdsNotDistinct, "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

var batchIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,80}$`)

// SendBatch stores up to 10 messages; entries fail on their own, but a
// malformed batch changes nothing.
func (s *Service) SendBatch(ctx context.Context, queue string, ids []string, ins []*SendInput) ([]BatchResult, error) {
	q, err := s.open(ctx, queue)
	if err != nil {
		return nil, err
	}
	if err := CheckBatchIDs(ids); err != nil {
		return nil, err
	}
	total := 0
	for _, in := range ins {
		total += len(in.Body)
	}
	if total > q.cfg.MaximumMessageSize {
		return nil, errorf(BatchRequestTooLong, "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", q.cfg.MaximumMessageSize, total)
	}
	out := make([]BatchResult, len(ids))
	futures := make([]jetstream.PubAckFuture, len(ids))
	preps := make([]*prepared, len(ids))
	for i, in := range ins {
		out[i].ID = ids[i]
		p, err := s.prepare(q, in)
		if err != nil {
			var qe *Error
			if errors.As(err, &qe) {
				out[i].Err = qe
				continue
			}
			return nil, err
		}
		preps[i] = p
		if q.cfg.FIFO {
			continue // in order, one by one
		}
		f, err := s.js.PublishMsgAsync(p.msg)
		if err != nil {
			out[i].Err = &Error{Kind: "InternalError", Message: err.Error()}
			continue
		}
		futures[i] = f
	}
	for i, p := range preps {
		if p == nil {
			continue
		}
		if q.cfg.FIFO {
			res, err := s.publish(ctx, q, p)
			if err != nil {
				out[i].Err = &Error{Kind: "InternalError", Message: err.Error()}
				continue
			}
			out[i].Result = res
			continue
		}
		if futures[i] == nil {
			continue
		}
		select {
		case <-futures[i].Ok():
			out[i].Result = p.result
			q.stored.Store(time.Now().UnixNano())
		case err := <-futures[i].Err():
			out[i].Err = &Error{Kind: "InternalError", Message: err.Error()}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// ReceiveInput are ReceiveMessage's parameters.
type ReceiveInput struct {
	Max               int  // 1..10
	WaitSeconds       *int // nil: the queue's ReceiveMessageWaitTimeSeconds
	VisibilityTimeout *int // nil: the queue's
}

// Receive returns up to Max visible messages, waiting up to WaitSeconds for one.
func (s *Service) Receive(ctx context.Context, queue string, in ReceiveInput) ([]Message, error) {
	q, err := s.open(ctx, queue)
	if err != nil {
		return nil, err
	}
	if in.Max == 0 {
		in.Max = 1
	}
	if in.Max < 1 || in.Max > 10 {
		return nil, errorf(InvalidParameterValue, "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", in.Max)
	}
	wait := q.cfg.ReceiveWaitTimeSeconds
	if in.WaitSeconds != nil {
		wait = *in.WaitSeconds
	}
	if wait < 0 || wait > MaxWaitSeconds {
		return nil, errorf(InvalidParameterValue, "Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", wait)
	}
	if v := in.VisibilityTimeout; v != nil && (*v < 0 || *v > MaxVisibilityTimeout) {
		return nil, errorf(InvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", *v)
	}
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		msgs, err := s.receiveOnce(ctx, q, in, deadline)
		if err != nil || len(msgs) > 0 || !time.Now().Before(deadline) {
			return msgs, err
		}
		if ctx.Err() != nil {
			return nil, nil
		}
	}
}

func (s *Service) receiveOnce(ctx context.Context, q *queue, in ReceiveInput, deadline time.Time) ([]Message, error) {
	if q.cfg.FIFO {
		// The consumer has one message in flight at most (fifoMaxPending).
		// While it is, JetStream holds a pull request (even a no-wait one)
		// open: so ask for one, with an expiry the server enforces.
		wait := min(max(time.Until(deadline), 50*time.Millisecond), 500*time.Millisecond)
		raw, err := s.pull(ctx, q, 1, wait, false)
		if err != nil {
			return nil, err
		}
		return s.messages(ctx, q, in, raw)
	}
	raw, err := s.pull(ctx, q, in.Max, 0, true)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 && ctx.Err() == nil {
		wait := min(time.Until(deadline), 5*time.Second)
		if wait <= 0 {
			// A short poll. JetStream counts a stored message as pending
			// for the consumer asynchronously, so a no-wait fetch right
			// after a send can miss it: a message this node acknowledged a
			// moment ago is worth a short wait, anything else a brief one.
			wait = 20 * time.Millisecond
			if time.Since(time.Unix(0, q.stored.Load())) < 2*time.Second {
				wait = 250 * time.Millisecond
			}
		}
		if raw, err = s.pull(ctx, q, 1, max(wait, 10*time.Millisecond), false); err != nil {
			return nil, err
		}
		if len(raw) == 1 && in.Max > 1 {
			if more, err := s.pull(ctx, q, in.Max-1, 0, true); err == nil {
				raw = append(raw, more...)
			}
		}
	}
	return s.messages(ctx, q, in, raw)
}

// messages turns fetched deliveries into received messages, moving those
// received too often to the dead-letter queue.
func (s *Service) messages(ctx context.Context, q *queue, in ReceiveInput, raw []delivered) ([]Message, error) {
	out := make([]Message, 0, len(raw))
	now := time.Now()
	for _, m := range raw {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		q.sawDelivery(md.Sequence.Stream)
		count := max(int(md.NumDelivered)-q.unreceived.get(md.Sequence.Stream), 1)
		if r := q.cfg.Redrive; r != nil && count > r.MaxReceiveCount {
			if s.redrive(ctx, q, m) {
				continue
			}
		}
		vt := q.cfg.VisibilityTimeout
		if in.VisibilityTimeout != nil && *in.VisibilityTimeout != q.cfg.VisibilityTimeout {
			vt = *in.VisibilityTimeout
			body := []byte("-NAK")
			if vt > 0 {
				body = fmt.Appendf(nil, "-NAK {\"delay\": %d}", (time.Duration(vt) * time.Second).Nanoseconds())
			}
			// Confirmed, so the message's own visibility is set before it is handed out.
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := s.nc.RequestWithContext(rctx, m.Reply(), body)
			cancel()
			if err != nil {
				return out, fmt.Errorf("receive: set visibility: %w", err)
			}
		}
		h := m.Headers()
		msg := Message{
			ID:            h.Get(hID),
			ReceiptHandle: encodeHandle(q.cfg.Name, m.Reply(), now.Add(time.Duration(vt)*time.Second)),
			Body:          string(m.Data()),
			System: map[string]string{
				"SentTimestamp":           h.Get(hSent),
				"ApproximateReceiveCount": strconv.Itoa(count),
				"SenderId":                appspecAccount,
			},
		}
		msg.MD5OfBody = MD5OfBody(msg.Body)
		first := h.Get(hFirstRecv)
		if first == "" {
			first = strconv.FormatInt(now.UnixMilli(), 10)
		}
		msg.System["ApproximateFirstReceiveTimestamp"] = first
		if a := h.Get(hAttrs); a != "" {
			_ = json.Unmarshal([]byte(a), &msg.Attributes)
			msg.MD5OfAttrs = MD5OfAttributes(msg.Attributes)
		}
		if a := h.Get(hSysAttrs); a != "" {
			var sys map[string]Attribute
			if json.Unmarshal([]byte(a), &sys) == nil {
				if t := sys["AWSTraceHeader"]; t.StringValue != nil {
					msg.System["AWSTraceHeader"] = *t.StringValue
				}
			}
		}
		if q.cfg.FIFO {
			msg.System["MessageGroupId"] = h.Get(hGroup)
			msg.System["MessageDeduplicationId"] = h.Get(hDedup)
			msg.System["SequenceNumber"] = fmt.Sprintf("%020d", md.Sequence.Stream)
		}
		out = append(out, msg)
	}
	return out, nil
}

const appspecAccount = "000000000000"

// redrive moves a message that was received too often to the dead-letter
// queue. It reports whether the message was moved.
func (s *Service) redrive(ctx context.Context, q *queue, m delivered) bool {
	name, _ := NameFromARN(q.cfg.Redrive.DeadLetterTargetArn)
	dlq, err := s.open(ctx, name)
	if err != nil {
		s.log.Warn("dead-letter queue is missing; message stays", "queue", q.cfg.Name, "dlq", name)
		return false
	}
	out := nats.NewMsg(subjPrefix + token(dlq.cfg.Name))
	out.Data = m.Data()
	for k, v := range m.Headers() {
		if k != nats.MsgIdHdr {
			out.Header[k] = v
		}
	}
	if dlq.cfg.FIFO && out.Header.Get(hDedup) != "" {
		out.Header.Set(nats.MsgIdHdr, dlq.cfg.Name+"/"+out.Header.Get(hDedup))
	}
	if _, err := s.js.PublishMsg(ctx, out); err != nil {
		s.log.Error("move to dead-letter queue failed", "queue", q.cfg.Name, "err", err)
		return false
	}
	if err := m.DoubleAck(ctx); err != nil {
		s.log.Warn("ack after moving to dead-letter queue", "queue", q.cfg.Name, "err", err)
	}
	if md, err := m.Metadata(); err == nil {
		q.unreceived.forget(md.Sequence.Stream)
	}
	return true
}
