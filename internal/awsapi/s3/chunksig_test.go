package s3_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/testkit"
)

// signedUpload builds a STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)
// upload by hand, as AWS documents it, and lets a test spoil it after
// signing.
type signedUpload struct {
	chunk   int
	trailer bool                      // -TRAILER with a signed x-amz-checksum-crc32
	spoil   func(chunks [][]byte) int // changes the signed chunks; returns -1 or a chunk to drop
	badSig  bool                      // the trailer's signature is wrong
}

func (u signedUpload) put(t *testing.T, p *testkit.Platform, url string, body []byte) (int, string) {
	t.Helper()
	ctx := context.Background()
	c, err := p.Credentials().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	mode := "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	if u.trailer {
		mode += "-TRAILER"
	}
	req, _ := http.NewRequest(http.MethodPut, url, nil)
	req.Header.Set("X-Amz-Content-Sha256", mode)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(body)))
	if u.trailer {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	if err := v4.NewSigner().SignHTTP(ctx, c, req, mode, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	_, prev, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	key := auth.SigningKey(c.SecretAccessKey, now.Format("20060102"), "us-east-1", "s3")
	scope := now.Format("20060102") + "/us-east-1/s3/aws4_request"
	sign := func(parts ...string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(strings.Join(parts, "\n")))
		return hex.EncodeToString(m.Sum(nil))
	}
	var datas [][]byte
	for rest := body; len(rest) > 0; {
		k := min(u.chunk, len(rest))
		datas = append(datas, append([]byte(nil), rest[:k]...))
		rest = rest[k:]
	}
	datas = append(datas, nil) // the final, empty chunk
	sigs := make([]string, len(datas))
	for i, d := range datas {
		sigs[i] = sign("AWS4-HMAC-SHA256-PAYLOAD", now.Format("20060102T150405Z"), scope, prev, hexSHA(nil), hexSHA(d))
		prev = sigs[i]
	}
	drop := -1
	if u.spoil != nil {
		drop = u.spoil(datas)
	}
	var enc bytes.Buffer
	for i, d := range datas {
		if i != drop {
			fmt.Fprintf(&enc, "%x;chunk-signature=%s\r\n%s\r\n", len(d), sigs[i], d)
		}
	}
	enc.Truncate(enc.Len() - 2) // the final chunk has no data line
	if u.trailer {
		var sum [4]byte
		binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(body))
		line := "x-amz-checksum-crc32:" + base64.StdEncoding.EncodeToString(sum[:])
		tsig := sign("AWS4-HMAC-SHA256-TRAILER", now.Format("20060102T150405Z"), scope, prev, hexSHA([]byte(line+"\n")))
		if u.badSig {
			tsig = strings.Repeat("0", 64)
		}
		fmt.Fprintf(&enc, "%s\r\nx-amz-trailer-signature:%s\r\n\r\n", line, tsig)
	} else {
		enc.WriteString("\r\n")
	}
	req.Body = io.NopCloser(&enc)
	req.ContentLength = int64(enc.Len())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(msg)
}

// TestChunkSignatures: every chunk of a signed streaming upload is checked
// against the chain from the seed signature; a changed byte, a dropped or
// swapped chunk, or a wrong trailer signature fails with
// SignatureDoesNotMatch and stores nothing (the old object stays).
func TestChunkSignatures(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("signed")}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("chunk signatures "), 12000) // 204,000 bytes: four chunks of 64 KiB
	url := p.URL() + "/signed/k"
	for _, u := range []signedUpload{{chunk: 64 << 10}, {chunk: 64 << 10, trailer: true}} {
		if status, msg := u.put(t, p, url, body); status != 200 {
			t.Fatalf("a well-signed upload (trailer %v): %d %s", u.trailer, status, msg)
		}
		if got, _ := readVersion(t, c, "signed", "k", ""); got != string(body) {
			t.Fatalf("stored %d bytes", len(got))
		}
	}
	put(t, c, "signed", "k", "old")
	for name, u := range map[string]signedUpload{
		"one byte changed": {chunk: 64 << 10, spoil: func(d [][]byte) int { d[2][100] ^= 1; return -1 }},
		"last byte changed": {chunk: 64 << 10, spoil: func(d [][]byte) int {
			last := d[len(d)-2]
			last[len(last)-1] ^= 1
			return -1
		}},
		"chunks swapped":     {chunk: 64 << 10, spoil: func(d [][]byte) int { d[0], d[1] = d[1], d[0]; return -1 }},
		"chunk dropped":      {chunk: 64 << 10, spoil: func([][]byte) int { return 1 }},
		"trailer signature":  {chunk: 64 << 10, trailer: true, badSig: true},
		"changed, trailered": {chunk: 64 << 10, trailer: true, spoil: func(d [][]byte) int { d[0][0] ^= 1; return -1 }},
	} {
		t.Run(name, func(t *testing.T) {
			status, msg := u.put(t, p, url, body)
			if status != 403 || !strings.Contains(msg, "SignatureDoesNotMatch") {
				t.Fatalf("answer %d %s", status, msg)
			}
			if got, _ := readVersion(t, c, "signed", "k", ""); got != "old" {
				t.Fatalf("the spoiled upload replaced the object (%d bytes)", len(got))
			}
		})
	}
}
