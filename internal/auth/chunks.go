package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// ChunkSigner checks the signatures of an aws-chunked upload signed with
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): each chunk's signature
// covers its bytes and the signature before it, starting from the
// request's (seed) signature, so no chunk can be altered, dropped or
// reordered. One request, one goroutine.
type ChunkSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    string
}

type chunkKey struct{}

// ChunkSignerFrom returns the signer of a signed streaming upload whose
// seed signature the middleware verified, or nil.
func ChunkSignerFrom(ctx context.Context) *ChunkSigner {
	cs, _ := ctx.Value(chunkKey{}).(*ChunkSigner)
	return cs
}

var emptySHA256 = sha256.Sum256(nil)

// Chunk reports whether signature is that of the next chunk, whose bytes
// hash to dataSHA256, and moves the chain on.
func (c *ChunkSigner) Chunk(dataSHA256 []byte, signature string) bool {
	toSign := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" +
		hex.EncodeToString(emptySHA256[:]) + "\n" + hex.EncodeToString(dataSHA256)
	if !signatureMatches(c.key, toSign, signature) {
		return false
	}
	c.prev = signature
	return true
}

// Trailer reports whether signature is that of the trailing headers, given
// as they were sent ("name:value\n" each).
func (c *ChunkSigner) Trailer(trailers []byte, signature string) bool {
	sum := sha256.Sum256(trailers)
	toSign := "AWS4-HMAC-SHA256-TRAILER\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" + hex.EncodeToString(sum[:])
	return signatureMatches(c.key, toSign, signature)
}
