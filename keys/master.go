package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"time"
)

// MasterKeyBits is the RSA size upstream uses for master keys.
const MasterKeyBits = 4096

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// ASN.1 shapes of encrypted PKCS#8 with PBES2 (RFC 8018).
type encryptedPrivateKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt      []byte
	Iter      int
	KeyLength int                      `asn1:"optional"`
	PRF       pkix.AlgorithmIdentifier `asn1:"optional"`
}

// MasterKey is a fresh RSA key pair in the PEM forms upstream writes:
// SubjectPublicKeyInfo and PBES2/AES-256-CBC encrypted PKCS#8.
func NewMasterKey(pass []byte) (publicPEM, privatePEM []byte, err error) {
	if len(pass) < 5 {
		return nil, nil, errors.New("password is too short (at least 5 characters)")
	}
	k, err := rsa.GenerateKey(rand.Reader, MasterKeyBits)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	enc, err := encryptPKCS8(der, pass)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc}), nil
}

func encryptPKCS8(der, pass []byte) ([]byte, error) {
	salt := make([]byte, 16)
	iv := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	const iter = 100000
	key, err := pbkdf2.Key(sha256.New, string(pass), salt, iter, 32)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(key)
	pad := aes.BlockSize - len(der)%aes.BlockSize
	plain := append(append([]byte{}, der...), make([]byte, pad)...)
	for i := len(der); i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	kdfParams, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iter: iter, KeyLength: 32,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}})
	if err != nil {
		return nil, err
	}
	ivDER, _ := asn1.Marshal(iv)
	params, err := asn1.Marshal(pbes2Params{
		KDF:    pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		Scheme: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(encryptedPrivateKeyInfo{
		Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		Data: ct,
	})
}

func decryptPKCS8(der, pass []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("not an encrypted PKCS#8 private key")
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("unsupported private key encryption %v (only PBES2)", info.Algo.Algorithm)
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, errors.New("bad PBES2 parameters")
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("unsupported key derivation %v (only PBKDF2)", p.KDF.Algorithm)
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
		return nil, errors.New("bad PBKDF2 parameters")
	}
	var keyLen int
	switch {
	case p.Scheme.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case p.Scheme.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case p.Scheme.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return nil, fmt.Errorf("unsupported cipher %v (only AES-CBC)", p.Scheme.Algorithm)
	}
	var prf func() hash.Hash
	switch {
	case len(kp.PRF.Algorithm) == 0 || kp.PRF.Algorithm.Equal(oidHMACSHA1):
		prf = sha1.New
	case kp.PRF.Algorithm.Equal(oidHMACSHA256):
		prf = sha256.New
	default:
		return nil, fmt.Errorf("unsupported PBKDF2 hash %v", kp.PRF.Algorithm)
	}
	if kp.Iter <= 0 || kp.Iter > 10_000_000 {
		return nil, fmt.Errorf("unsupported PBKDF2 iteration count %d", kp.Iter)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Scheme.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return nil, errors.New("bad AES-CBC IV")
	}
	key, err := pbkdf2.Key(prf, string(pass), kp.Salt, kp.Iter, keyLen)
	if err != nil {
		return nil, err
	}
	if len(info.Data) == 0 || len(info.Data)%aes.BlockSize != 0 {
		return nil, errors.New("bad encrypted key length")
	}
	block, _ := aes.NewCipher(key)
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.Data)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, ErrWrongPassword
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, ErrWrongPassword
		}
	}
	return plain[:len(plain)-pad], nil
}

// IsEncryptedPrivateKey tells whether a PEM private key needs a password.
func IsEncryptedPrivateKey(pemData []byte) bool {
	b, _ := pem.Decode(pemData)
	//lint:ignore SA1019 master keys made by older openssl use the legacy PEM encryption, and upstream reads them
	return b != nil && (b.Type == "ENCRYPTED PRIVATE KEY" || x509.IsEncryptedPEMBlock(b))
}

// ParsePrivateKey reads an RSA master private key: encrypted or plain
// PKCS#8, or PKCS#1 (also the legacy OpenSSL DEK-Info encryption).
func ParsePrivateKey(pemData, pass []byte) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("not a PEM private key")
	}
	der := b.Bytes
	var err error
	switch {
	case b.Type == "ENCRYPTED PRIVATE KEY":
		if der, err = decryptPKCS8(der, pass); err != nil {
			return nil, err
		}
	//lint:ignore SA1019 legacy OpenSSL PEM encryption: upstream reads such master keys
	case x509.IsEncryptedPEMBlock(b):
		//lint:ignore SA1019 see above
		if der, err = x509.DecryptPEMBlock(b, pass); err != nil {
			return nil, ErrWrongPassword
		}
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("master key is not an RSA key")
		}
		return rk, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if b.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, ErrWrongPassword
	}
	return nil, errors.New("cannot parse the master private key")
}

// ParsePublicKey reads a PEM RSA public key (SubjectPublicKeyInfo or PKCS#1).
func ParsePublicKey(pemData []byte) (*rsa.PublicKey, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("not a PEM public key")
	}
	if k, err := x509.ParsePKIXPublicKey(b.Bytes); err == nil {
		if rk, ok := k.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, errors.New("master public key is not an RSA key")
	}
	if k, err := x509.ParsePKCS1PublicKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("cannot parse the master public key")
}

// RSAEncryptKey builds the payload of rsa-encrypted.key.blob: the key as an
// unprotected KeyConfig, RSA PKCS#1 v1.5 encrypted (formats.md 8.5).
func RSAEncryptKey(pub *rsa.PublicKey, key [32]byte, created string) ([]byte, error) {
	cc, err := NewCryptConfig(key)
	if err != nil {
		return nil, err
	}
	kc := &KeyConfig{Created: created, Modified: rfc3339Local(time.Now()), Data: key[:], Fingerprint: cc.Fingerprint().String()}
	js, err := json.Marshal(kc)
	if err != nil {
		return nil, err
	}
	//lint:ignore SA1019 rsa-encrypted.key is PKCS#1 v1.5 in upstream's format (openssl's default padding)
	return rsa.EncryptPKCS1v15(rand.Reader, pub, js)
}

// RSADecryptKey recovers the KeyConfig from an rsa-encrypted.key payload.
func RSADecryptKey(priv *rsa.PrivateKey, payload []byte) (*KeyConfig, [32]byte, error) {
	var key [32]byte
	//lint:ignore SA1019 the format is PKCS#1 v1.5 (upstream's openssl default padding)
	js, err := rsa.DecryptPKCS1v15(nil, priv, payload)
	if err != nil {
		return nil, key, errors.New("cannot decrypt the encrypted key with this master key")
	}
	kc, err := ParseKeyConfig(js)
	if err != nil {
		return nil, key, err
	}
	if kc.KDF != nil {
		return nil, key, errors.New("encrypted key unexpectedly has a kdf")
	}
	key, err = kc.Unwrap(nil)
	return kc, key, err
}
