package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cairn/core"
	"cairn/internal/atomicfile"
)

// AuthKey loads the Ed25519 ticket signing key, creating it if missing.
func AuthKey(dir string) (ed25519.PrivateKey, error) {
	p := filepath.Join(dir, AuthKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		if err := createExclusive(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return AuthKey(dir)
			}
			return nil, err
		}
		return priv, nil
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not a PEM file", p)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", p)
	}
	return priv, nil
}

// CSRFKey loads the CSRF secret, creating it if missing.
func CSRFKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, CSRFKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		k := make([]byte, 32)
		rand.Read(k)
		if err := createExclusive(p, []byte(hex.EncodeToString(k)+"\n")); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return CSRFKey(dir)
			}
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("%s: bad CSRF key", p)
	}
	return k, nil
}

// createExclusive writes a new file atomically, never over an existing one
// (fs.ErrExist), so a concurrent creator never sees a half-written key.
func createExclusive(p string, data []byte) error {
	return atomicfile.WriteFileExclusive(p, data, 0o600)
}

// Certificate loads the TLS certificate, making a self-signed one if missing.
func Certificate(dir string) (tls.Certificate, error) {
	cp, kp := filepath.Join(dir, CertFile), filepath.Join(dir, CertKeyFile)
	if _, err := os.Stat(cp); errors.Is(err, fs.ErrNotExist) {
		if err := makeCert(dir, cp, kp); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.LoadX509KeyPair(cp, kp)
}

func makeCert(dir, cp, kp string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(dir, ".cert.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(cp); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"cairn backup server"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{host, "localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// Fingerprint is the SHA-256 of the DER certificate as aa:bb:... (protocol.md 2;
// core.CertFingerprint).
func Fingerprint(der []byte) string { return core.CertFingerprint(der) }
