package blob

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestMagics(t *testing.T) {
	for name, m := range map[string][8]byte{
		"Proxmox Backup uncompressed blob v1.0":              MagicPlain,
		"Proxmox Backup zstd compressed blob v1.0":           MagicCompressed,
		"Proxmox Backup encrypted blob v1.0":                 MagicEncrypted,
		"Proxmox Backup zstd compressed encrypted blob v1.0": MagicEncryptedZstd,
	} {
		sum := sha256.Sum256([]byte(name))
		if [8]byte(sum[:8]) != m {
			t.Errorf("%s: magic %x, want %x", name, m, sum[:8])
		}
	}
}

type gcm struct{ aead cipher.AEAD }

func newGCM(t testing.TB) *gcm {
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := aes.NewCipher(key)
	a, err := cipher.NewGCMWithNonceSize(b, 16)
	if err != nil {
		t.Fatal(err)
	}
	return &gcm{a}
}

func (g *gcm) Seal(dst, p []byte) (iv, tag [16]byte, ct []byte, err error) {
	rand.Read(iv[:])
	out := g.aead.Seal(nil, iv[:], p, nil)
	copy(tag[:], out[len(out)-16:])
	return iv, tag, out[:len(out)-16], nil
}

func (g *gcm) Open(iv, tag [16]byte, ct []byte) ([]byte, error) {
	return g.aead.Open(nil, iv[:], append(append([]byte{}, ct...), tag[:]...), nil)
}

func TestRoundTrip(t *testing.T) {
	random := make([]byte, 5000)
	rand.Read(random)
	text := bytes.Repeat([]byte("hello blob "), 1000)
	g := newGCM(t)
	cases := []struct {
		name     string
		data     []byte
		compress bool
		c        Cipher
		magic    [8]byte
	}{
		{"plain", text, false, nil, MagicPlain},
		{"zstd", text, true, nil, MagicCompressed},
		{"incompressible", random, true, nil, MagicPlain},
		{"empty", nil, true, nil, MagicPlain},
		{"encrypted", random, true, g, MagicEncrypted},
		{"encrypted zstd", text, true, g, MagicEncryptedZstd},
	}
	for _, tc := range cases {
		b, err := Encode(tc.data, tc.compress, tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if [8]byte(b[:8]) != tc.magic {
			t.Errorf("%s: magic %x", tc.name, b[:8])
		}
		got, err := Decode(b, tc.c)
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Errorf("%s: decode %v, equal %v", tc.name, err, bytes.Equal(got, tc.data))
		}
	}
}

func TestCorruption(t *testing.T) {
	b, _ := Encode(bytes.Repeat([]byte("x"), 100), true, nil)
	b[len(b)-1] ^= 1
	if _, err := Decode(b, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped bit: %v", err)
	}
	if _, err := Decode(b[:5], nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated: %v", err)
	}
	e, _ := Encode([]byte("secret"), false, newGCM(t))
	if _, err := Decode(e, nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := Decode(e, newGCM(t)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong key: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, d := range [][]byte{nil, []byte("abc"), bytes.Repeat([]byte("ab"), 300)} {
		b, _ := Encode(d, true, nil)
		f.Add(b)
		b, _ = Encode(d, false, nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Decode(b, nil)
		if err == nil {
			again, err := Encode(out, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := Decode(again, nil); err != nil || !bytes.Equal(back, out) {
				t.Fatal("re-encoding changed the payload")
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	data := make([]byte, 4<<20)
	rand.Read(data[:len(data)/2])
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Encode(data, true, nil)
	}
}

// Chunks whose samples are random are stored without trying zstd; a chunk
// with any compressible region is still compressed.
func TestRandomChunksSkipCompression(t *testing.T) {
	random := make([]byte, 4<<20)
	rand.Read(random)
	out, err := Encode(random, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := KindOf(out); k.Compressed {
		t.Error("random chunk stored compressed")
	}
	mixed := bytes.Clone(random)
	copy(mixed[1<<20:], bytes.Repeat([]byte("text that compresses "), (512<<10)/21))
	g := newGCM(t)
	out, err = Encode(mixed, true, g)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := KindOf(out); !k.Compressed || len(out) > len(mixed)-400<<10 {
		t.Errorf("mixed chunk: compressed %v, %d of %d bytes", k.Compressed, len(out), len(mixed))
	}
	if back, err := Decode(out, g); err != nil || !bytes.Equal(back, mixed) {
		t.Fatalf("round trip: %v", err)
	}
}
