package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"cairn/core"
)

// tlsRoots lets tests replace the system CA pool.
type tlsRoots = x509.CertPool

// FingerprintError is a refused server certificate.
type FingerprintError struct {
	Fingerprint string
	Expected    string
	Reason      string
}

func (e *FingerprintError) Error() string {
	msg := "certificate validation failed - " + e.Reason
	msg += "\nserver certificate fingerprint: " + e.Fingerprint
	if e.Expected != "" {
		msg += "\nexpected fingerprint:           " + e.Expected
	}
	msg += "\n(set PBS_FINGERPRINT to the server's certificate fingerprint to trust it)"
	return msg
}

// Fingerprint renders the SHA-256 of a DER certificate as aa:bb:…
// (core.CertFingerprint).
func Fingerprint(der []byte) string { return core.CertFingerprint(der) }

// NormalizeFingerprint lower-cases and checks a fingerprint.
func NormalizeFingerprint(fp string) (string, error) {
	fp = strings.ToLower(strings.TrimSpace(fp))
	parts := strings.Split(fp, ":")
	if len(parts) != 32 {
		return "", fmt.Errorf("invalid fingerprint %q (expected 32 colon-separated hex bytes)", fp)
	}
	for _, p := range parts {
		if len(p) != 2 || strings.Trim(p, "0123456789abcdef") != "" {
			return "", fmt.Errorf("invalid fingerprint %q (expected 32 colon-separated hex bytes)", fp)
		}
	}
	return fp, nil
}

// newTLSConfig verifies the server as protocol.md 2 describes: the system
// CA (with host name) first, then an expected or cached fingerprint, then
// the user's confirmation.
func (c *Client) newTLSConfig(host string) *tls.Config {
	return &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, // verified in VerifyConnection
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("certificate validation failed - server sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter, Roots: c.opts.RootCAs}); err == nil {
				return nil
			}
			return c.checkFingerprint(Fingerprint(leaf.Raw))
		},
	}
}

func (c *Client) checkFingerprint(fp string) error {
	c.mu.Lock()
	accepted := c.fpOK
	c.mu.Unlock()
	if accepted == fp {
		return nil
	}
	expected, explicit := "", false
	if c.opts.Fingerprint != "" {
		expected, explicit = strings.ToLower(strings.TrimSpace(c.opts.Fingerprint)), true
	} else if !c.opts.NoFingerprintCache {
		expected, _ = LoadFingerprint(c.hostKey)
	}
	if expected != "" {
		if expected == fp {
			c.accept(fp)
			return nil
		}
		fmt.Fprintf(c.log, "WARNING: certificate fingerprint does not match expected fingerprint!\nexpected:    %s\n", expected)
	}
	if c.opts.Confirm == nil {
		reason := "Certificate fingerprint was not confirmed."
		if expected != "" {
			reason = "certificate fingerprint does not match the expected fingerprint."
		}
		return &FingerprintError{Fingerprint: fp, Expected: expected, Reason: reason}
	}
	// Only one prompt at a time, and a second connection reuses the answer.
	c.confirmMu.Lock()
	defer c.confirmMu.Unlock()
	c.mu.Lock()
	accepted = c.fpOK
	c.mu.Unlock()
	if accepted == fp {
		return nil
	}
	ok, err := c.opts.Confirm(fp)
	if err != nil || !ok {
		reason := "Certificate fingerprint was not confirmed."
		if err != nil {
			reason += " (" + err.Error() + ")"
		}
		return &FingerprintError{Fingerprint: fp, Expected: expected, Reason: reason}
	}
	c.accept(fp)
	if !explicit && !c.opts.NoFingerprintCache {
		if err := StoreFingerprint(c.hostKey, fp); err != nil {
			fmt.Fprintf(c.log, "WARNING: could not store fingerprint: %v\n", err)
		}
	}
	return nil
}

func (c *Client) accept(fp string) {
	c.mu.Lock()
	c.fpOK = fp
	c.mu.Unlock()
}
