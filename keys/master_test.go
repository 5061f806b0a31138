package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
)

func TestMasterKeyRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA 4096 generation is slow")
	}
	pubPEM, privPEM, err := NewMasterKey([]byte("master-pw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(privPEM, []byte("BEGIN ENCRYPTED PRIVATE KEY")) || !IsEncryptedPrivateKey(privPEM) {
		t.Fatalf("private key PEM:\n%s", privPEM[:60])
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewKey()
	payload, err := RSAEncryptKey(pub, key, "2024-01-01T00:00:00+00:00")
	if err != nil || len(payload) != 512 {
		t.Fatalf("encrypt: %v, %d bytes", err, len(payload))
	}
	if _, err := ParsePrivateKey(privPEM, []byte("wrong-pw")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	priv, err := ParsePrivateKey(privPEM, []byte("master-pw"))
	if err != nil {
		t.Fatal(err)
	}
	kc, got, err := RSADecryptKey(priv, payload)
	if err != nil || got != key || kc.Created != "2024-01-01T00:00:00+00:00" {
		t.Fatalf("recovered %v %+v", err, kc)
	}
}

func TestPKCS8RoundTrip(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	_ = k
	der := []byte("0123456789abcdef0123")
	enc, err := encryptPKCS8(der, []byte("pw-12345"))
	if err != nil {
		t.Fatal(err)
	}
	back, err := decryptPKCS8(enc, []byte("pw-12345"))
	if err != nil || !bytes.Equal(back, der) {
		t.Fatalf("%v %q", err, back)
	}
}
