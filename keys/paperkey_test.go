package keys

import (
	"strings"
	"testing"
	"time"
)

func TestPaperkeyText(t *testing.T) {
	key, _ := NewKey()
	kc, _ := Wrap(key, nil, nil, time.Now())
	data, _ := kc.Encode()
	out, err := Paperkey(data, "text", "my key")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject: my key\n\n-----BEGIN PROXMOX BACKUP KEY-----\n{\n", "-----END PROXMOX BACKUP KEY-----\n", kc.Fingerprint} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if !strings.ContainsAny(out, "█▀▄") {
		t.Error("no QR block art")
	}
	// Dark modules are drawn, as qrencode -t utf8i draws them for
	// upstream: the code's first row opens with a finder pattern's top.
	_, code, _ := strings.Cut(out, "-----END PROXMOX BACKUP KEY-----\n")
	if !strings.HasPrefix(code, "█▀▀▀▀▀█ ") {
		t.Errorf("QR code starts %q, want a dark finder pattern", strings.SplitN(code, "\n", 2)[0])
	}
	h, err := Paperkey(data, "html", "")
	if err != nil || !strings.Contains(h, "<title>Proxmox Backup Paperkey</title>") || !strings.Contains(h, "data:image/svg+xml;base64,") {
		t.Fatalf("html: %v", err)
	}
	if _, err := Paperkey([]byte("garbage"), "text", ""); err == nil {
		t.Error("garbage accepted")
	}
}
