package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/core/blob"
	"cairn/keys"
)

func TestKeyShowAsUpstream(t *testing.T) {
	outputEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "it's é\tk.json")
	stdoutOf(t, "key", "create", path, "--kdf", "none")
	kc, err := keys.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	created, _ := time.Parse(time.RFC3339, kc.Created)

	// Text: the path as given in Rust's debug quoting, times as local %c.
	rows := tableRows(stdoutOf(t, "key", "show", path))
	want := [][]string{{"Name", "Value"}, {"path", `"` + dir + `/it's é\tk.json"`}, {"kdf", "none"},
		{"created", created.Local().Format("Mon Jan _2 15:04:05 2006")}, {"modified", ""}, {"fingerprint", kc.Fingerprint}}
	if len(rows) != len(want) {
		t.Fatalf("rows %q", rows)
	}
	for i, w := range want {
		if rows[i][0] != w[0] || (w[1] != "" && rows[i][1] != w[1]) {
			t.Errorf("row %d = %q, want %q", i, rows[i], w)
		}
	}
	// JSON: times as epochs, the path quoted inside the string.
	var info map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "key", "show", path, "--output-format", "json")), &info); err != nil {
		t.Fatal(err)
	}
	if info["created"] != float64(created.Unix()) || info["path"] != `"`+dir+`/it's é\tk.json"` || info["kdf"] != "none" || info["hint"] != nil {
		t.Errorf("json %v", info)
	}

	// Without PATH: the default key, which must exist.
	if e := fails(t, "key", "show"); !strings.Contains(e, "no encryption file provided and no default file found") {
		t.Errorf("no default key: %q", e)
	}
	if e := fails(t, "key", "create", path, "--kdf", "none"); !strings.Contains(e, "Unable to store key file \""+dir) {
		t.Errorf("existing key file: %q", e)
	}
}

func TestRustDebugQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b.json":       `"/a/b.json"`,
		"it's \"q\" \\":   `"it's \"q\" \\"`,
		"t\tn\nr\r\x00":   `"t\tn\nr\r\0"`,
		"e\u0301\u00a0x":  `"e\u{301}\u{a0}x"`,
		"bad\xff\x01.key": `"bad\xFF\u{1}.key"`,
		"ünïcödé":         `"ünïcödé"`,
	} {
		if got := rustDebugQuote(in); got != want {
			t.Errorf("rustDebugQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// masterKeyFiles writes an unencrypted RSA master key pair and an
// rsa-encrypted.key for a fresh encryption key; it returns the paths and
// the key's fingerprint.
func masterKeyFiles(t *testing.T, dir string) (priv, pub, enc, fp string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 3072) // room for the key file JSON (PKCS#1 v1.5)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := keys.RSAEncryptKey(&k.PublicKey, raw, "2020-01-02T03:04:05+00:00")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := keys.NewCryptConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, enc = filepath.Join(dir, "master-private.pem"), filepath.Join(dir, "master-public.pem"), filepath.Join(dir, "rsa-encrypted.key")
	for p, data := range map[string][]byte{
		priv: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pub:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		enc:  payload,
	} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return priv, pub, enc, cc.Fingerprint().String()
}

func TestKeyImportWithMasterKeyBothForms(t *testing.T) {
	home := outputEnv(t)
	dir := t.TempDir()
	priv, _, enc, fp := masterKeyFiles(t, dir)
	// The same payload wrapped as the blob a snapshot stores.
	wrapped, err := blob.Encode(mustRead(t, enc), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	encBlob := filepath.Join(dir, "rsa-encrypted.key.blob")
	if err := os.WriteFile(encBlob, wrapped, 0o600); err != nil {
		t.Fatal(err)
	}

	seed := filepath.Join(dir, "seed.json")           // TARGET --master-keyfile M --encrypted-keyfile E
	positional := filepath.Join(dir, "upstream.json") // MASTER-KEYFILE ENCRYPTED-KEYFILE PATH
	fromBlob := filepath.Join(dir, "blob.json")
	stdoutOf(t, "key", "import-with-master-key", seed, "--master-keyfile", priv, "--encrypted-keyfile", enc, "--kdf", "none")
	stdoutOf(t, "key", "import-with-master-key", priv, enc, positional, "--kdf", "none")
	stdoutOf(t, "key", "import-with-master-key", fromBlob, "--master-keyfile", priv, "--encrypted-keyfile", encBlob, "--kdf", "none")
	// Without PATH the key becomes the default key.
	stdoutOf(t, "key", "import-with-master-key", priv, enc, "--kdf", "none")
	def := filepath.Join(home, ".config", "proxmox-backup", "encryption-key.json")
	for _, p := range []string{seed, positional, fromBlob, def} {
		kc, err := keys.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if kc.Fingerprint != fp || kc.KDF != nil || kc.Created != "2020-01-02T03:04:05+00:00" {
			t.Errorf("%s: fingerprint %s kdf %v created %s; want %s, none, the original time", p, kc.Fingerprint, kc.KDF, kc.Created, fp)
		}
	}
	// The default exists now: with the flags and no PATH it is not replaced.
	if e := fails(t, "key", "import-with-master-key", "--master-keyfile", priv, "--encrypted-keyfile", enc, "--kdf", "none"); !strings.Contains(e, "already exists") {
		t.Errorf("existing default key: %q", e)
	}

	for _, bad := range [][]string{
		{"--master-keyfile", priv}, // one flag
		{enc},                      // one positional
		{"a", "b", "--master-keyfile", priv, "--encrypted-keyfile", enc}, // flags and two paths
		{priv, enc, "x", "y"}, // too many
	} {
		r := cairnRun(t, append([]string{"key", "import-with-master-key", "--kdf", "none"}, bad...)...)
		if r.code != exitUsage {
			t.Errorf("%q: exit %d (%s), want usage error %d", bad, r.code, r.stderr, exitUsage)
		}
	}
	if e := fails(t, "key", "import-with-master-key", priv, enc, filepath.Join(dir, "h.json"), "--kdf", "none", "--hint", "x"); !strings.Contains(e, "hint") {
		t.Errorf("--hint with --kdf none: %q", e)
	}
}

func TestKeyShowMasterPubkey(t *testing.T) {
	outputEnv(t)
	dir := t.TempDir()
	_, pub, _, _ := masterKeyFiles(t, dir)
	var info map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "key", "show-master-pubkey", pub, "--output-format", "json")), &info); err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParsePublicKey(mustRead(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	if info["path"] != pub || info["exponent"] != "65537" || info["length"] != float64(3072) || info["modulus"] != rsaModulusHex(k) {
		t.Errorf("json %v", info)
	}
	if m := info["modulus"].(string); m != strings.ToUpper(m) || len(m) != 768 {
		t.Errorf("modulus %q: want 768 upper-case hex digits", m)
	}
	if e := fails(t, "key", "show-master-pubkey"); !strings.Contains(e, "No path specified and no default master key available.") {
		t.Errorf("no default: %q", e)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
