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

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chunkedPut sends body as an aws-chunked upload in chunks of size n, as
// AWS documents it: signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) or
// unsigned ones with a trailing CRC32 (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
func chunkedPut(t *testing.T, p *testkit.Platform, url string, body []byte, n int, signed bool, crc string) *http.Response {
	t.Helper()
	c, err := p.Credentials().Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	req, _ := http.NewRequest(http.MethodPut, url, nil)
	mode := "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	if signed {
		mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	}
	req.Header.Set("X-Amz-Content-Sha256", mode)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(body)))
	if !signed {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, mode, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	_, seed, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	key := auth.SigningKey(c.SecretAccessKey, now.Format("20060102"), "us-east-1", "s3")
	prev := seed
	var enc bytes.Buffer
	chunk := func(data []byte) {
		if !signed {
			fmt.Fprintf(&enc, "%x\r\n%s\r\n", len(data), data)
			return
		}
		toSign := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", now.Format("20060102T150405Z"),
			now.Format("20060102") + "/us-east-1/s3/aws4_request", prev, hexSHA(nil), hexSHA(data)}, "\n")
		m := hmac.New(sha256.New, key)
		m.Write([]byte(toSign))
		prev = hex.EncodeToString(m.Sum(nil))
		fmt.Fprintf(&enc, "%x;chunk-signature=%s\r\n%s\r\n", len(data), prev, data)
	}
	for rest := body; len(rest) > 0; {
		k := min(n, len(rest))
		chunk(rest[:k])
		rest = rest[k:]
	}
	if signed {
		chunk(nil)
	} else {
		var sum [4]byte
		binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(body))
		if crc == "" {
			crc = base64.StdEncoding.EncodeToString(sum[:])
		}
		fmt.Fprintf(&enc, "0\r\nx-amz-checksum-crc32:%s\r\n\r\n", crc)
	}
	req.Body = io.NopCloser(&enc)
	req.ContentLength = int64(enc.Len())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestAWSChunked: streaming uploads store the decoded bytes, with the
// aws-chunked coding dropped from the object's Content-Encoding.
func TestAWSChunked(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("stream")}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes
	for _, tc := range []struct {
		name   string
		signed bool
		chunk  int
	}{{"signed", true, 64 << 10}, {"signed-one-chunk", true, len(body)}, {"unsigned-trailer", false, 8 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			resp := chunkedPut(t, p, p.URL()+"/stream/"+tc.name, body, tc.chunk, tc.signed, "")
			if resp.StatusCode != 200 || resp.Header.Get("ETag") != etagOf(body) {
				t.Fatalf("PUT: %s, ETag %s", resp.Status, resp.Header.Get("ETag"))
			}
			got, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("stream"), Key: aws.String(tc.name)})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(got.Body)
			got.Body.Close()
			if !bytes.Equal(data, body) || got.ContentEncoding != nil {
				t.Fatalf("read back %d bytes, Content-Encoding %v", len(data), got.ContentEncoding)
			}
		})
	}
	// A trailing checksum that does not match stores nothing.
	if resp := chunkedPut(t, p, p.URL()+"/stream/bad-trailer", body, 8<<10, false, "AAAAAA=="); resp.StatusCode != 400 {
		t.Fatalf("a wrong trailing checksum: %s", resp.Status)
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("stream"), Key: aws.String("bad-trailer")}); err == nil {
		t.Fatal("an upload with a wrong trailing checksum was stored")
	}
	// So does a wrong checksum header on a plain PUT.
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/stream/bad-header", bytes.NewReader(body))
	req.Header.Set("X-Amz-Checksum-Sha256", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	req.Header.Set("X-Amz-Content-Sha256", hexSHA(body))
	p.Sign(req, "s3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(msg), "BadDigest") {
		t.Fatalf("a wrong checksum header: %s %s", resp.Status, msg)
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("stream"), Key: aws.String("bad-header")}); err == nil {
		t.Fatal("a PUT with a wrong checksum header was stored")
	}
}

// TestStreamedBodyMismatch: a body larger than what the verifier buffers is
// checked against its signed SHA-256 as it streams; a mismatch stores
// nothing and answers XAmzContentSHA256Mismatch.
func TestStreamedBodyMismatch(t *testing.T) {
	p := testkit.Start(t, nil)
	c := client(p)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("checked")}); err != nil {
		t.Fatal(err)
	}
	signed := bytes.Repeat([]byte("a"), 1<<20)
	sent := bytes.Repeat([]byte("b"), 1<<20)
	creds, _ := p.Credentials().Retrieve(ctx)
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/checked/k", bytes.NewReader(sent))
	req.Header.Set("X-Amz-Content-Sha256", hexSHA(signed))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hexSHA(signed), "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "XAmzContentSHA256Mismatch") {
		t.Fatalf("mismatched body: %s %s", resp.Status, body)
	}
	if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("checked"), Key: aws.String("k")}); err == nil {
		t.Fatal("a body that failed its hash was stored")
	}
}
