// Package keys holds client-side encryption: the runtime crypto config
// derived from a 32-byte key (formats.md 8.3), key files (8.1, 8.2), the
// master key (8.5) and the paperkey (8.6).
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// fpInput is SHA-256("Proxmox Backup Encryption Key Fingerprint").
var fpInput = sha256.Sum256([]byte("Proxmox Backup Encryption Key Fingerprint"))

// Fingerprint identifies a key without revealing it.
type Fingerprint [32]byte

// String is the full form: 32 hex pairs joined by ':'.
func (f Fingerprint) String() string { return colonHex(f[:]) }

// Short is the first 8 bytes, used in messages.
func (f Fingerprint) Short() string { return colonHex(f[:8]) }

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = hex.EncodeToString([]byte{c})
	}
	return strings.Join(parts, ":")
}

// ParseFingerprint accepts the full ':'-separated form (or plain hex).
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) != 32 {
		return f, fmt.Errorf("invalid key fingerprint %q", s)
	}
	copy(f[:], b)
	return f, nil
}

// CryptConfig is the runtime form of an encryption key: it seals blobs,
// computes keyed chunk digests and signs manifests.
type CryptConfig struct {
	aead  cipher.AEAD
	idKey []byte
	fp    Fingerprint
}

// NewCryptConfig derives the runtime keys from the raw 32-byte key.
func NewCryptConfig(key [32]byte) (*CryptConfig, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithNonceSize(block, 16)
	if err != nil {
		return nil, err
	}
	idKey, err := pbkdf2.Key(sha256.New, string(key[:]), []byte("_id_key"), 10, 32)
	if err != nil {
		return nil, err
	}
	c := &CryptConfig{aead: aead, idKey: idKey}
	c.fp = Fingerprint(c.Digest(fpInput[:]))
	return c, nil
}

// Fingerprint of the key.
func (c *CryptConfig) Fingerprint() Fingerprint { return c.fp }

// Digest is the chunk digest of plaintext under this key:
// SHA-256(data || id_key) (formats.md 3.1).
func (c *CryptConfig) Digest(data []byte) [32]byte {
	h := sha256.New()
	h.Write(data)
	h.Write(c.idKey)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// Sign is HMAC-SHA256 keyed with id_key, as manifest signatures use.
func (c *CryptConfig) Sign(data []byte) []byte {
	m := hmac.New(sha256.New, c.idKey)
	m.Write(data)
	return m.Sum(nil)
}

// IDKey is the HMAC key for manifest signatures.
func (c *CryptConfig) IDKey() []byte { return c.idKey }

// Seal encrypts one blob payload with a fresh random 16-byte IV.
func (c *CryptConfig) Seal(dst, plain []byte) (iv, tag [16]byte, ct []byte, err error) {
	if _, err = rand.Read(iv[:]); err != nil {
		return
	}
	start := len(dst)
	out := c.aead.Seal(dst, iv[:], plain, nil)
	n := len(out) - 16
	copy(tag[:], out[n:])
	return iv, tag, out[start:n], nil
}

// Open decrypts and authenticates one blob payload.
func (c *CryptConfig) Open(iv, tag [16]byte, ct []byte) ([]byte, error) {
	buf := make([]byte, len(ct)+16)
	copy(buf, ct)
	copy(buf[len(ct):], tag[:])
	return c.aead.Open(buf[:0], iv[:], buf, nil)
}
