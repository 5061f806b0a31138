package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/scrypt"

	"cairn/internal/atomicfile"
)

// KDF names as the CLI spells them.
const (
	KDFNone   = "none"
	KDFScrypt = "scrypt"
	KDFPBKDF2 = "pbkdf2"
)

// ErrWrongPassword is returned when a key cannot be unwrapped.
var ErrWrongPassword = errors.New("unable to decrypt key - wrong password?")

// ScryptParams and PBKDF2Params are the stored KDF parameters.
type ScryptParams struct {
	N    uint64 `json:"n"`
	R    uint64 `json:"r"`
	P    uint64 `json:"p"`
	Salt []byte `json:"salt"`
}

type PBKDF2Params struct {
	Iter uint64 `json:"iter"`
	Salt []byte `json:"salt"`
}

// KDF is the externally tagged enum of formats.md 8.1; both nil means none.
type KDF struct {
	Scrypt *ScryptParams `json:"Scrypt,omitempty"`
	PBKDF2 *PBKDF2Params `json:"PBKDF2,omitempty"`
}

// Name is the CLI name of the KDF.
func (k *KDF) Name() string {
	switch {
	case k == nil:
		return KDFNone
	case k.Scrypt != nil:
		return KDFScrypt
	default:
		return KDFPBKDF2
	}
}

func (k *KDF) derive(pass []byte) ([]byte, error) {
	switch {
	case k.Scrypt != nil:
		p := k.Scrypt
		if p.N < 2 || p.N&(p.N-1) != 0 || p.N > 1<<22 || p.R == 0 || p.R > 64 || p.P == 0 || p.P > 64 {
			return nil, fmt.Errorf("unsupported scrypt parameters n=%d r=%d p=%d", p.N, p.R, p.P)
		}
		return scrypt.Key(pass, p.Salt, int(p.N), int(p.R), int(p.P), 32)
	case k.PBKDF2 != nil:
		if k.PBKDF2.Iter == 0 || k.PBKDF2.Iter > 1<<24 {
			return nil, fmt.Errorf("unsupported pbkdf2 iteration count %d", k.PBKDF2.Iter)
		}
		return pbkdf2.Key(sha256.New, string(pass), k.PBKDF2.Salt, int(k.PBKDF2.Iter), 32)
	}
	return nil, errors.New("empty kdf")
}

// KeyConfig is the key file (encryption-key.json). Field order is the order
// upstream writes.
type KeyConfig struct {
	KDF         *KDF   `json:"kdf"`
	Created     string `json:"created"`
	Modified    string `json:"modified"`
	Data        []byte `json:"data"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Hint        string `json:"hint,omitempty"`
}

// rfc3339Local is how upstream writes key timestamps: local time, numeric
// offset, no fraction.
func rfc3339Local(t time.Time) string { return t.Local().Format("2006-01-02T15:04:05-07:00") }

func newSalt() []byte {
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		panic(err)
	}
	return s
}

// NewKDF returns fresh parameters for a KDF name (upstream defaults).
func NewKDF(name string) (*KDF, error) {
	switch name {
	case KDFNone:
		return nil, nil
	case KDFScrypt, "":
		return &KDF{Scrypt: &ScryptParams{N: 65536, R: 8, P: 1, Salt: newSalt()}}, nil
	case KDFPBKDF2:
		return &KDF{PBKDF2: &PBKDF2Params{Iter: 65535, Salt: newSalt()}}, nil
	}
	return nil, fmt.Errorf("unknown kdf %q (use none, scrypt or pbkdf2)", name)
}

// Wrap builds a key file for key, protected by pass under kdf (nil = none).
func Wrap(key [32]byte, kdf *KDF, pass []byte, created time.Time) (*KeyConfig, error) {
	cc, err := NewCryptConfig(key)
	if err != nil {
		return nil, err
	}
	now := rfc3339Local(time.Now())
	kc := &KeyConfig{KDF: kdf, Created: rfc3339Local(created), Modified: now, Fingerprint: cc.Fingerprint().String()}
	if kdf == nil {
		kc.Data = bytes.Clone(key[:])
		return kc, nil
	}
	if len(pass) < 5 {
		return nil, errors.New("password is too short (at least 5 characters)")
	}
	derived, err := kdf.derive(pass)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(derived)
	aead, _ := cipher.NewGCMWithNonceSize(block, 16)
	iv := make([]byte, 16)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	out := aead.Seal(nil, iv, key[:], nil)
	ct, tag := out[:32], out[32:]
	kc.Data = append(append(append([]byte{}, iv...), tag...), ct...)
	return kc, nil
}

// Unwrap recovers the raw key, checking the stored fingerprint.
func (kc *KeyConfig) Unwrap(pass []byte) ([32]byte, error) {
	var key [32]byte
	if kc.KDF == nil {
		if len(kc.Data) != 32 {
			return key, fmt.Errorf("unprotected key data has %d bytes, want 32", len(kc.Data))
		}
		copy(key[:], kc.Data)
	} else {
		if len(pass) < 5 {
			return key, errors.New("password is too short (at least 5 characters)")
		}
		// IV, tag and the 32-byte key: 64 bytes (formats.md 8.2 says 80,
		// but 16+16+32 is what upstream writes).
		if len(kc.Data) != 64 {
			return key, fmt.Errorf("encrypted key data has %d bytes, want 64", len(kc.Data))
		}
		derived, err := kc.KDF.derive(pass)
		if err != nil {
			return key, err
		}
		block, _ := aes.NewCipher(derived)
		aead, _ := cipher.NewGCMWithNonceSize(block, 16)
		iv, tag, ct := kc.Data[:16], kc.Data[16:32], kc.Data[32:]
		plain, err := aead.Open(nil, iv, append(bytes.Clone(ct), tag...), nil)
		if err != nil {
			if kc.Hint != "" {
				return key, fmt.Errorf("%w (hint: %s)", ErrWrongPassword, kc.Hint)
			}
			return key, ErrWrongPassword
		}
		copy(key[:], plain)
	}
	if kc.Fingerprint != "" {
		want, err := ParseFingerprint(kc.Fingerprint)
		if err != nil {
			return key, err
		}
		cc, err := NewCryptConfig(key)
		if err != nil {
			return key, err
		}
		if cc.Fingerprint() != want {
			return key, fmt.Errorf("key fingerprint mismatch: file says %s, key is %s", want.Short(), cc.Fingerprint().Short())
		}
	}
	return key, nil
}

// Encode is the compact JSON upstream writes.
func (kc *KeyConfig) Encode() ([]byte, error) { return json.Marshal(kc) }

// ReadKeyConfig reads and decodes the key file at path; its errors name
// the file ("key PATH: …").
func ReadKeyConfig(path string) (*KeyConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	kc, err := ParseKeyConfig(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return kc, nil
}

// ParseKeyConfig decodes a key file, naming what is wrong.
func ParseKeyConfig(data []byte) (*KeyConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a key file: %v", err)
	}
	for _, k := range []string{"kdf", "created", "modified", "data"} {
		if _, ok := raw[k]; !ok {
			return nil, fmt.Errorf("not a key file: %q is missing", k)
		}
	}
	var kc KeyConfig
	if err := json.Unmarshal(data, &kc); err != nil {
		return nil, fmt.Errorf("not a key file: %v", err)
	}
	if kc.KDF != nil && kc.KDF.Scrypt == nil && kc.KDF.PBKDF2 == nil {
		return nil, errors.New("not a key file: unknown kdf")
	}
	if kc.KDF != nil && kc.KDF.Scrypt != nil && kc.KDF.PBKDF2 != nil {
		return nil, errors.New("not a key file: two kdfs")
	}
	for _, t := range []string{kc.Created, kc.Modified} {
		if _, err := time.Parse(time.RFC3339, t); err != nil {
			return nil, fmt.Errorf("not a key file: bad timestamp %q", t)
		}
	}
	if kc.Fingerprint != "" {
		if _, err := ParseFingerprint(kc.Fingerprint); err != nil {
			return nil, err
		}
	}
	return &kc, nil
}

// Load reads a key file.
func Load(path string) (*KeyConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	kc, err := ParseKeyConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kc, nil
}

// Save writes a key file with mode 0600 atomically: on any error the old
// file is intact. With exclusive set an existing file is never replaced.
func (kc *KeyConfig) Save(path string, exclusive bool) error {
	data, err := kc.Encode()
	if err != nil {
		return err
	}
	if exclusive {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("key file %q already exists", path)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if !exclusive {
		return atomicfile.WriteFile(path, data, 0o600)
	}
	// Refused if the target appeared meanwhile.
	err = atomicfile.WriteFileExclusive(path, data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("key file %q already exists", path)
	}
	return err
}

// NewKey returns 32 random bytes.
func NewKey() ([32]byte, error) {
	var k [32]byte
	_, err := rand.Read(k[:])
	return k, err
}
