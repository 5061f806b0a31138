package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"testing"

	"cairn/core/blob"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The KDFs are the standard ones (formats.md 8.1), so their published
// vectors apply; a 32-byte key is the prefix of the 64-byte outputs.
func TestKDFKnownAnswers(t *testing.T) {
	// RFC 7914 section 11, PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1.
	k := &KDF{PBKDF2: &PBKDF2Params{Iter: 1, Salt: []byte("salt")}}
	got, err := k.derive([]byte("passwd"))
	if err != nil || !bytes.Equal(got, unhex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")) {
		t.Errorf("pbkdf2: %x %v", got, err)
	}
	// RFC 7914 section 12, scrypt P="password", S="NaCl", N=1024, r=8, p=16.
	k = &KDF{Scrypt: &ScryptParams{N: 1024, R: 8, P: 16, Salt: []byte("NaCl")}}
	got, err = k.derive([]byte("password"))
	if err != nil || !bytes.Equal(got, unhex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")) {
		t.Errorf("scrypt: %x %v", got, err)
	}
}

// An encrypted blob is magic, CRC-32 of the ciphertext, IV, tag, then the
// AES-256-GCM ciphertext of the (here incompressible) payload under the raw
// key with the 16-byte IV and no AAD (formats.md 2.2, 2.5). The expected
// bytes are computed here with the standard library from those rules.
func TestEncryptedBlobLayout(t *testing.T) {
	var key [32]byte
	for i := range key {
		key[i] = byte(i)
	}
	c, _ := NewCryptConfig(key)
	plain := []byte("cairn known answer")
	b, err := blob.Encode(plain, false, c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:8], blob.MagicEncrypted[:]) || len(b) != 44+len(plain) {
		t.Fatalf("header %x, length %d", b[:8], len(b))
	}
	iv, tag, ct := b[12:28], b[28:44], b[44:]
	if binary.LittleEndian.Uint32(b[8:]) != crc32.ChecksumIEEE(ct) {
		t.Error("CRC does not cover the ciphertext")
	}
	blk, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCMWithNonceSize(blk, 16)
	want := gcm.Seal(nil, iv, plain, nil)
	if !bytes.Equal(ct, want[:len(plain)]) || !bytes.Equal(tag, want[len(plain):]) {
		t.Error("ciphertext or tag differ from AES-256-GCM(raw key, IV)")
	}
	back, err := blob.Decode(b, c)
	if err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("decode: %v", err)
	}
}

// Keyed digests: SHA-256(data || id_key) with id_key from the upstream test
// key 00..1f (formats.md 3.1, 8.3); so the fingerprint is the digest of
// FP_INPUT, and plain SHA-256 would give another value.
func TestKeyedDigest(t *testing.T) {
	var key [32]byte
	for i := range key {
		key[i] = byte(i)
	}
	c, _ := NewCryptConfig(key)
	if d := c.Digest(fpInput[:]); hex.EncodeToString(d[:]) != "0eabd4460b6eb9ca345023dee2b778c790e54a1683b9659c0a57ae199090159b" {
		t.Errorf("digest of FP_INPUT %x", d)
	}
	other, _ := NewCryptConfig([32]byte{1})
	if c.Digest([]byte("x")) == other.Digest([]byte("x")) {
		t.Error("digests do not depend on the key")
	}
}

func FuzzDecodeEncryptedBlob(f *testing.F) {
	c, _ := NewCryptConfig([32]byte{7})
	for _, p := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abc"), 200)} {
		b, _ := blob.Encode(p, true, c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := blob.Decode(b, c)
		if err == nil {
			// Only authentic data decodes: re-encoding must round-trip.
			again, _ := blob.Encode(out, true, c)
			if back, err := blob.Decode(again, c); err != nil || !bytes.Equal(back, out) {
				t.Fatal("round trip failed")
			}
		}
	})
}
