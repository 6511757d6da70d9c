package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// keySet is a parsed JWKS: public keys by key id.
type keySet struct {
	keys map[string]any
	only any // the key when the set holds exactly one (tokens without kid)
}

func (s *keySet) key(kid string) (any, error) {
	if kid == "" {
		if s.only != nil {
			return s.only, nil
		}
		return nil, errors.New("the token has no kid and the key set has several keys")
	}
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("no key %q in the key set", kid)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func parseJWKS(data []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	s := &keySet{keys: map[string]any{}}
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.Kid, err)
		}
		if pub == nil {
			continue // a key type JWT authorizers do not use
		}
		s.keys[k.Kid] = pub
		s.only = pub
	}
	if len(s.keys) == 0 {
		return nil, errors.New("the key set has no RSA or EC signing keys")
	}
	if len(s.keys) > 1 {
		s.only = nil
	}
	return s, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (k jwk) publicKey() (any, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64(k.N)
		if err != nil || len(n) == 0 {
			return nil, errors.New("bad modulus")
		}
		e, err := b64(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad exponent")
		}
		exp := 0
		for _, c := range e {
			exp = exp<<8 | int(c)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("curve %q is not supported", k.Crv)
		}
		x, errX := b64(k.X)
		y, errY := b64(k.Y)
		size := (curve.Params().BitSize + 7) / 8
		if errX != nil || errY != nil || len(x) > size || len(y) > size {
			return nil, errors.New("bad coordinates")
		}
		point := make([]byte, 1+2*size)
		point[0] = 4
		copy(point[1+size-len(x):1+size], x)
		copy(point[1+2*size-len(y):], y)
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	}
	return nil, nil
}

// jwksCache fetches key sets (discovering them from the issuer when needed)
// and keeps them an hour; an unknown kid refetches, at most once a minute.
type jwksCache struct {
	client *http.Client
	mu     sync.Mutex
	sets   map[string]*cachedKeys // by authorizer issuer+url
}

type cachedKeys struct {
	mu      sync.Mutex // one fetch at a time per set
	set     *keySet
	fetched time.Time
}

const (
	jwksMaxAge       = time.Hour
	jwksRefetchAfter = time.Minute
)

func (c *jwksCache) key(ctx context.Context, a *authorizer, kid string) (any, error) {
	id := a.issuer + "\x00" + a.jwksURL
	c.mu.Lock()
	if c.sets == nil {
		c.sets = map[string]*cachedKeys{}
	}
	ck := c.sets[id]
	if ck == nil {
		ck = &cachedKeys{}
		c.sets[id] = ck
	}
	c.mu.Unlock()

	ck.mu.Lock()
	defer ck.mu.Unlock()
	now := time.Now()
	if ck.set != nil && now.Sub(ck.fetched) < jwksMaxAge {
		if k, err := ck.set.key(kid); err == nil || now.Sub(ck.fetched) < jwksRefetchAfter {
			return k, err
		}
	}
	set, err := c.fetch(ctx, a)
	if err != nil {
		if ck.set != nil {
			return ck.set.key(kid) // keep serving the keys we had
		}
		return nil, err
	}
	ck.set, ck.fetched = set, now
	return set.key(kid)
}

func (c *jwksCache) fetch(ctx context.Context, a *authorizer) (*keySet, error) {
	url := a.jwksURL
	if url == "" {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := c.getJSON(ctx, strings.TrimRight(a.issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return nil, fmt.Errorf("discover the issuer's keys: %w", err)
		}
		if doc.JWKSURI == "" {
			return nil, errors.New("the issuer's openid-configuration has no jwks_uri")
		}
		url = doc.JWKSURI
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, url, &raw); err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	return parseJWKS(raw)
}

func (c *jwksCache) getJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}
