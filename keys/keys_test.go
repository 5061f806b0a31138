package keys

import (
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Upstream unit test vector (formats.md 8.4): key 00..1f.
func TestFingerprintVector(t *testing.T) {
	var key [32]byte
	for i := range key {
		key[i] = byte(i)
	}
	c, err := NewCryptConfig(key)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(c.IDKey()); got != "7c2c013efd07f3b25717a485263343cd4d292a4b65c200bb3b18ea227abe225c" {
		t.Errorf("id_key %s", got)
	}
	if got := c.Fingerprint().String(); got != "0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b" {
		t.Errorf("fingerprint %s", got)
	}
	if got := c.Fingerprint().Short(); got != "0e:ab:d4:46:0b:6e:b9:ca" {
		t.Errorf("short %s", got)
	}
}

func TestSealOpen(t *testing.T) {
	key, _ := NewKey()
	c, _ := NewCryptConfig(key)
	iv, tag, ct, err := c.Seal(nil, []byte("hello"))
	if err != nil || len(ct) != 5 {
		t.Fatalf("seal: %v len %d", err, len(ct))
	}
	if p, err := c.Open(iv, tag, ct); err != nil || string(p) != "hello" {
		t.Fatalf("open: %v %q", err, p)
	}
	ct[0] ^= 1
	if _, err := c.Open(iv, tag, ct); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	key, _ := NewKey()
	dir := t.TempDir()
	for _, name := range []string{KDFNone, KDFPBKDF2, KDFScrypt} {
		kdf, err := NewKDF(name)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := Wrap(key, kdf, []byte("secret-pw"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".json")
		if err := kc.Save(path, true); err != nil {
			t.Fatal(err)
		}
		if err := kc.Save(path, true); err == nil {
			t.Fatal("existing key file overwritten")
		}
		back, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.KDF.Name() != name {
			t.Errorf("kdf %s, want %s", back.KDF.Name(), name)
		}
		got, err := back.Unwrap([]byte("secret-pw"))
		if err != nil || got != key {
			t.Fatalf("%s: unwrap %v", name, err)
		}
		if name != KDFNone {
			if _, err := back.Unwrap([]byte("wrong-pw")); !errors.Is(err, ErrWrongPassword) {
				t.Errorf("%s: wrong password gave %v", name, err)
			}
		}
	}
}

func TestParseKeyConfigRejects(t *testing.T) {
	for _, bad := range []string{``, `{}`, `[]`, `{"kdf":null,"created":"x","modified":"x","data":"AAAA"}`,
		`{"kdf":{"Argon":{}},"created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","data":""}`} {
		if _, err := ParseKeyConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseKeyConfig(f *testing.F) {
	key, _ := NewKey()
	kdf, _ := NewKDF(KDFPBKDF2)
	kdf.PBKDF2.Iter = 10
	kc, _ := Wrap(key, kdf, []byte("secret-pw"), time.Now())
	b, _ := kc.Encode()
	f.Add(b)
	kc, _ = Wrap(key, nil, nil, time.Now())
	b, _ = kc.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		kc, err := ParseKeyConfig(data)
		if err != nil {
			return
		}
		if kc.KDF != nil && (kc.KDF.Scrypt != nil || (kc.KDF.PBKDF2 != nil && kc.KDF.PBKDF2.Iter > 1000)) {
			return // expensive KDFs are not what the fuzzer should spend time on
		}
		kc.Unwrap([]byte("secret-pw"))
	})
}
