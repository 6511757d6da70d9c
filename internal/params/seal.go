package params

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
)

// KeyFile is the name of the SecureString key in the data directory.
const KeyFile = "params.key"

// fingerprintKey holds a hash of the key in the bucket, so a node started
// with another key (a cluster node whose data directory lacks the first
// node's key) refuses to start instead of failing to decrypt later.
const fingerprintKey = "meta.keyid"

// sealer encrypts SecureString values with AES-256-GCM; the parameter's name
// is the additional data, so a ciphertext cannot be moved to another name.
type sealer struct{ aead cipher.AEAD }

func openSealer(ctx context.Context, kv jetstream.KeyValue, dataDir string) (*sealer, error) {
	path := filepath.Join(dataDir, KeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create parameter key: %w", err)
		}
		_, werr := f.Write(key)
		serr := f.Sync()
		if err := errors.Join(werr, serr, f.Close()); err != nil {
			return nil, fmt.Errorf("write parameter key %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read parameter key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("parameter key %s is %d bytes, not 32", path, len(key))
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm() != 0o600 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("restrict parameter key %s: %w", path, err)
		}
	}
	sum := sha256.Sum256(append([]byte("nimbus params key\n"), key...))
	id := hex.EncodeToString(sum[:8])
	if e, err := kv.Get(ctx, fingerprintKey); err == nil {
		if string(e.Value()) != id {
			return nil, fmt.Errorf("parameter key %s is not the key the stored SecureString parameters were encrypted with (copy %s from the first node's data directory)", path, KeyFile)
		}
	} else if errors.Is(err, jetstream.ErrKeyNotFound) {
		if _, err := kv.Create(ctx, fingerprintKey, []byte(id)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("record parameter key id: %w", err)
		}
	} else {
		return nil, fmt.Errorf("read parameter key id: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(name, plain string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), []byte(name))), nil
}

func (s *sealer) open(name, sealed string) (string, error) {
	data, err := base64.StdEncoding.DecodeString(sealed)
	n := s.aead.NonceSize()
	if err != nil || len(data) < n {
		return "", fmt.Errorf("SecureString %s is damaged", name)
	}
	plain, err := s.aead.Open(nil, data[:n], data[n:], []byte(name))
	if err != nil {
		return "", fmt.Errorf("SecureString %s cannot be decrypted with this node's parameter key", name)
	}
	return string(plain), nil
}
