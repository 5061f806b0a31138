// Package manifest reads and writes the backup manifest stored as
// index.json.blob (formats.md section 6).
package manifest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BlobName is the file name of the manifest in a snapshot directory.
const BlobName = "index.json.blob"

// Crypt modes of a manifest file entry.
const (
	CryptNone     = "none"
	CryptEncrypt  = "encrypt"
	CryptSignOnly = "sign-only"
)

// File is one archive entry of the manifest's "files" list.
type File struct {
	Filename  string `json:"filename"`
	CryptMode string `json:"crypt-mode"`
	Size      uint64 `json:"size"`
	Csum      string `json:"csum"` // 64 lower-case hex chars
}

// Manifest is the decoded index.json.
type Manifest struct {
	BackupType string
	BackupID   string
	BackupTime int64
	Files      []File
	// Unprotected is not covered by the signature. nil is written as {}.
	Unprotected map[string]any
	// Signature is the hex HMAC; "" is written as null.
	Signature string

	// extra holds unknown top-level keys, preserved on re-encode (and
	// included in the signed part).
	extra map[string]any
	// fileExtra holds unknown keys of files[] objects, by filename.
	fileExtra map[string]map[string]any
}

var knownTop = map[string]bool{
	"backup-type": true, "backup-id": true, "backup-time": true,
	"files": true, "unprotected": true, "signature": true,
}

var knownFile = map[string]bool{"filename": true, "crypt-mode": true, "size": true, "csum": true}

// Parse decodes and validates a manifest JSON document.
func Parse(data []byte) (*Manifest, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("manifest: document is not valid UTF-8")
	}
	if err := checkNesting(data); err != nil {
		return nil, err
	}
	v, err := decodeGeneric(data)
	if err != nil {
		return nil, fmt.Errorf("manifest: unable to parse JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("manifest: document is not a JSON object")
	}
	m := &Manifest{}

	str := func(key string) (string, error) {
		x, ok := obj[key]
		if !ok {
			return "", fmt.Errorf("manifest: missing field %q", key)
		}
		s, ok := x.(string)
		if !ok {
			return "", fmt.Errorf("manifest: field %q is not a string", key)
		}
		return s, nil
	}
	if m.BackupType, err = str("backup-type"); err != nil {
		return nil, err
	}
	if err := checkBackupType(m.BackupType); err != nil {
		return nil, err
	}
	if m.BackupID, err = str("backup-id"); err != nil {
		return nil, err
	}
	bt, ok := obj["backup-time"]
	if !ok {
		return nil, errors.New(`manifest: missing field "backup-time"`)
	}
	n, ok := bt.(json.Number)
	if !ok {
		return nil, errors.New(`manifest: field "backup-time" is not an integer`)
	}
	if m.BackupTime, err = strconv.ParseInt(string(n), 10, 64); err != nil {
		return nil, fmt.Errorf("manifest: invalid backup-time %s", n)
	}

	fv, ok := obj["files"]
	if !ok {
		return nil, errors.New(`manifest: missing field "files"`)
	}
	list, ok := fv.([]any)
	if !ok {
		return nil, errors.New(`manifest: field "files" is not an array`)
	}
	m.Files = make([]File, 0, len(list))
	seen := map[string]bool{}
	for i, item := range list {
		fo, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("manifest: files[%d] is not an object", i)
		}
		f, err := parseFile(i, fo)
		if err != nil {
			return nil, err
		}
		if seen[f.Filename] {
			return nil, fmt.Errorf("manifest: duplicate file %q", f.Filename)
		}
		seen[f.Filename] = true
		for k, x := range fo {
			if !knownFile[k] {
				if m.fileExtra == nil {
					m.fileExtra = map[string]map[string]any{}
				}
				if m.fileExtra[f.Filename] == nil {
					m.fileExtra[f.Filename] = map[string]any{}
				}
				m.fileExtra[f.Filename][k] = x
			}
		}
		m.Files = append(m.Files, f)
	}

	switch u := obj["unprotected"].(type) {
	case nil:
		m.Unprotected = map[string]any{}
	case map[string]any:
		m.Unprotected = u
	default:
		return nil, errors.New(`manifest: field "unprotected" is not an object`)
	}
	switch s := obj["signature"].(type) {
	case nil:
	case string:
		m.Signature = s
	default:
		return nil, errors.New(`manifest: field "signature" is not a string or null`)
	}

	for k, x := range obj {
		if !knownTop[k] {
			if m.extra == nil {
				m.extra = map[string]any{}
			}
			m.extra[k] = x
		}
	}
	return m, nil
}

// maxNesting mirrors serde_json's recursion limit: documents nested 128
// levels deep or more are rejected (this also bounds the size of the
// re-encoded pretty output).
const maxNesting = 127

func checkNesting(data []byte) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > maxNesting {
				return errors.New("manifest: unable to parse JSON: recursion limit exceeded")
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

func parseFile(i int, fo map[string]any) (File, error) {
	var f File
	name, ok := fo["filename"].(string)
	if !ok {
		return f, fmt.Errorf("manifest: files[%d]: missing or non-string filename", i)
	}
	if err := CheckFilename(name); err != nil {
		return f, err
	}
	f.Filename = name
	f.CryptMode = CryptNone // pre-0.8 manifests have no crypt-mode
	if cm, present := fo["crypt-mode"]; present {
		s, ok := cm.(string)
		if !ok {
			return f, fmt.Errorf("manifest: file %q: crypt-mode is not a string", name)
		}
		if err := checkCryptMode(s); err != nil {
			return f, fmt.Errorf("manifest: file %q: %w", name, err)
		}
		f.CryptMode = s
	}
	size, ok := fo["size"].(json.Number)
	if !ok {
		return f, fmt.Errorf("manifest: file %q: missing or non-integer size", name)
	}
	var err error
	if f.Size, err = strconv.ParseUint(string(size), 10, 64); err != nil {
		return f, fmt.Errorf("manifest: file %q: invalid size %s", name, size)
	}
	csum, ok := fo["csum"].(string)
	if !ok {
		return f, fmt.Errorf("manifest: file %q: missing or non-string csum", name)
	}
	if err := checkCsum(csum); err != nil {
		return f, fmt.Errorf("manifest: file %q: %w", name, err)
	}
	f.Csum = strings.ToLower(csum)
	return f, nil
}

func checkBackupType(t string) error {
	switch t {
	case "vm", "ct", "host":
		return nil
	}
	return fmt.Errorf("manifest: invalid backup-type %q", t)
}

func checkCryptMode(s string) error {
	switch s {
	case CryptNone, CryptEncrypt, CryptSignOnly:
		return nil
	}
	return fmt.Errorf("invalid crypt-mode %q", s)
}

func checkCsum(s string) error {
	if len(s) != 64 {
		return fmt.Errorf("invalid csum %q (want 64 hex digits)", s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("invalid csum %q (want 64 hex digits)", s)
	}
	return nil
}

// CheckFilename validates an archive file name as listed in a manifest: a
// single path component (no "/", not "." or "..", no NUL) ending in
// .didx, .fidx or .blob with a non-empty stem.
func CheckFilename(name string) error {
	bad := func() error { return fmt.Errorf("manifest: invalid filename %q", name) }
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return bad()
	}
	for _, ext := range serverExts {
		if strings.HasSuffix(name, ext) && len(name) > len(ext) {
			return nil
		}
	}
	return bad()
}

// validate checks the fields written by Encode.
func (m *Manifest) validate() error {
	if err := checkBackupType(m.BackupType); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if err := CheckFilename(f.Filename); err != nil {
			return err
		}
		if seen[f.Filename] {
			return fmt.Errorf("manifest: duplicate file %q", f.Filename)
		}
		seen[f.Filename] = true
		if f.CryptMode != "" {
			if err := checkCryptMode(f.CryptMode); err != nil {
				return fmt.Errorf("manifest: file %q: %w", f.Filename, err)
			}
		}
		if err := checkCsum(f.Csum); err != nil {
			return fmt.Errorf("manifest: file %q: %w", f.Filename, err)
		}
	}
	return nil
}

// signedValue returns the manifest as a generic JSON object without the
// "unprotected" and "signature" keys.
func (m *Manifest) signedValue() map[string]any {
	obj := make(map[string]any, len(m.extra)+6)
	for k, v := range m.extra {
		if !knownTop[k] {
			obj[k] = v
		}
	}
	obj["backup-type"] = m.BackupType
	obj["backup-id"] = m.BackupID
	obj["backup-time"] = m.BackupTime
	files := make([]any, 0, len(m.Files))
	for _, f := range m.Files {
		fo := make(map[string]any, 4)
		for k, v := range m.fileExtra[f.Filename] {
			if !knownFile[k] {
				fo[k] = v
			}
		}
		cm := f.CryptMode
		if cm == "" {
			cm = CryptNone
		}
		fo["filename"] = f.Filename
		fo["crypt-mode"] = cm
		fo["size"] = f.Size
		fo["csum"] = strings.ToLower(f.Csum)
		files = append(files, fo)
	}
	obj["files"] = files
	return obj
}

// Encode serializes the manifest like upstream (serde_json
// to_string_pretty of a Value): keys sorted, 2-space indentation, no
// trailing newline; "unprotected" is {} when empty and "signature" null
// when unset. Unknown keys of a parsed manifest are preserved.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	obj := m.signedValue()
	if m.Unprotected == nil {
		obj["unprotected"] = map[string]any{}
	} else {
		obj["unprotected"] = m.Unprotected
	}
	if m.Signature == "" {
		obj["signature"] = nil
	} else {
		obj["signature"] = m.Signature
	}
	w := &jsonWriter{pretty: true}
	if err := w.value(obj, 0); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// Canonical returns the canonical JSON of the signed part of the manifest
// (formats.md 6.4): everything except "unprotected" and "signature", keys
// sorted, no whitespace; a null anywhere is an error.
func (m *Manifest) Canonical() ([]byte, error) {
	w := &jsonWriter{canonical: true}
	if err := w.value(m.signedValue(), 0); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

func (m *Manifest) computeSignature(hmacKey []byte) ([]byte, error) {
	c, err := m.Canonical()
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, hmacKey)
	h.Write(c)
	return h.Sum(nil), nil
}

// Sign sets Signature to the hex HMAC-SHA256 (key = the key's id_key) over
// the canonical JSON of the signed part.
func (m *Manifest) Sign(hmacKey []byte) error {
	sig, err := m.computeSignature(hmacKey)
	if err != nil {
		return err
	}
	m.Signature = hex.EncodeToString(sig)
	return nil
}

// Verify checks the signature against hmacKey. An unsigned manifest is
// accepted.
func (m *Manifest) Verify(hmacKey []byte) error {
	if m.Signature == "" {
		return nil
	}
	sig, err := m.computeSignature(hmacKey)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(m.Signature), []byte(hex.EncodeToString(sig))) {
		return errors.New("manifest: wrong signature in manifest")
	}
	return nil
}

// Lookup finds a file by its stored name ("root.pxar.didx") or by the
// name without index/blob suffix ("root.pxar", "catalog.pcat1").
func (m *Manifest) Lookup(name string) (*File, bool) {
	find := func(n string) (*File, bool) {
		for i := range m.Files {
			if m.Files[i].Filename == n {
				return &m.Files[i], true
			}
		}
		return nil, false
	}
	if f, ok := find(name); ok {
		return f, true
	}
	n := ArchiveName(name)
	if f, ok := find(n.FileName()); ok {
		return f, true
	}
	if n.serverExt() != "" {
		return nil, false
	}
	for _, ext := range serverExts {
		if f, ok := find(name + ext); ok {
			return f, true
		}
	}
	return nil, false
}
