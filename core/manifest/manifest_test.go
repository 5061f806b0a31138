package manifest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

var (
	csum1 = strings.Repeat("01", 32)
	csum2 = strings.Repeat("02", 32)
	// id_key derived from scrypt("test", salt "", N=65536, r=8, p=1) (formats.md 6.4).
	idKey = "758495a21c31047f543f46d694700e02d168568bab37bb0ceece947b591f5100"
)

func specManifest() *Manifest {
	return &Manifest{
		BackupType: "host", BackupID: "elsa", BackupTime: 1593179765,
		Files: []File{
			{Filename: "test1.img.fidx", CryptMode: "encrypt", Size: 200, Csum: csum1},
			{Filename: "abc.blob", CryptMode: "none", Size: 200, Csum: csum2},
		},
		Unprotected: map[string]any{"note": "This is not protected by the signature."},
	}
}

func TestCanonicalAndSignatureVector(t *testing.T) {
	m := specManifest()
	c, err := m.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"backup-id":"elsa","backup-time":1593179765,"backup-type":"host","files":[{"crypt-mode":"encrypt","csum":"` + csum1 +
		`","filename":"test1.img.fidx","size":200},{"crypt-mode":"none","csum":"` + csum2 + `","filename":"abc.blob","size":200}]}`
	if string(c) != want {
		t.Fatalf("canonical:\n%s\nwant:\n%s", c, want)
	}
	key, _ := hex.DecodeString(idKey)
	if err := m.Sign(key); err != nil {
		t.Fatal(err)
	}
	if m.Signature != "d7b446fb7db081662081d4b40fedd858a1d6307a5aff4ecff7d5bf4fd35679e9" {
		t.Fatalf("signature %s", m.Signature)
	}
	m.Unprotected["key-fingerprint"] = "12:b9:b7:74:bb:3d:89:95:2b:97:cb:c2:82:f0:0c:14:2b:83:ba:7f:96:62:6a:a1:5a:44:9a:63:e8:91:fe:25"
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(key); err != nil {
		t.Fatal(err)
	}
	p.Unprotected["notes"] = "changed"
	if err := p.Verify(key); err != nil {
		t.Fatal("unprotected change broke signature:", err)
	}
	p.Files[1].Size = 201
	if err := p.Verify(key); err == nil {
		t.Fatal("tampered manifest verified")
	}
	p.Files[1].Size = 200
	if err := p.Verify([]byte("wrong key")); err == nil {
		t.Fatal("wrong key verified")
	}
	p.Signature = ""
	if err := p.Verify(key); err != nil {
		t.Fatal("unsigned manifest rejected:", err)
	}
}

func TestEncodeFormat(t *testing.T) {
	m := specManifest()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "backup-id": "elsa",
  "backup-time": 1593179765,
  "backup-type": "host",
  "files": [
    {
      "crypt-mode": "encrypt",
      "csum": "` + csum1 + `",
      "filename": "test1.img.fidx",
      "size": 200
    },
    {
      "crypt-mode": "none",
      "csum": "` + csum2 + `",
      "filename": "abc.blob",
      "size": 200
    }
  ],
  "signature": null,
  "unprotected": {
    "note": "This is not protected by the signature."
  }
}`
	if string(data) != want {
		t.Fatalf("encode:\n%s\nwant:\n%s", data, want)
	}
	empty := &Manifest{BackupType: "vm", BackupID: "100", BackupTime: 1}
	data, err = empty.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want = "{\n  \"backup-id\": \"100\",\n  \"backup-time\": 1,\n  \"backup-type\": \"vm\",\n  \"files\": [],\n  \"signature\": null,\n  \"unprotected\": {}\n}"
	if string(data) != want {
		t.Fatalf("encode empty:\n%s", data)
	}
}

func TestRoundtripUnknownKeys(t *testing.T) {
	in := `{"backup-type":"ct","backup-id":"101","backup-time":1700000000,
"files":[{"filename":"root.pxar.didx","size":18446744073709551615,"csum":"` + strings.ToUpper(csum1) + `","future":[1,2.5,true]},
         {"filename":"old.conf.blob","size":3,"csum":"` + csum2 + `"}],
"unprotected":{"chunk_upload_stats":{"count":18446744073709551615,"size":1,"compressed_size":2,"duplicates":0},
               "verify_state":{"state":"ok","upid":"UPID:x"},"notes":"a\"b</>&\u2028\u0001\u007f"},
"signature":null,"zz-extra":{"b":1e30,"a":-0.0001,"c":100.0,"d":1.5e-7,"e":123456789012345678901234567890}}`
	m, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.BackupType != "ct" || m.BackupID != "101" || m.BackupTime != 1700000000 || len(m.Files) != 2 {
		t.Fatalf("%+v", m)
	}
	if m.Files[0].Size != 18446744073709551615 || m.Files[0].Csum != csum1 || m.Files[0].CryptMode != "none" {
		t.Fatalf("file 0: %+v", m.Files[0])
	}
	if m.Files[1].CryptMode != "none" {
		t.Fatal("missing crypt-mode must default to none")
	}
	if vs, ok := m.Unprotected["verify_state"].(map[string]any); !ok || vs["state"] != "ok" {
		t.Fatalf("verify_state %#v", m.Unprotected["verify_state"])
	}
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "backup-id": "101",
  "backup-time": 1700000000,
  "backup-type": "ct",
  "files": [
    {
      "crypt-mode": "none",
      "csum": "` + csum1 + `",
      "filename": "root.pxar.didx",
      "future": [
        1,
        2.5,
        true
      ],
      "size": 18446744073709551615
    },
    {
      "crypt-mode": "none",
      "csum": "` + csum2 + `",
      "filename": "old.conf.blob",
      "size": 3
    }
  ],
  "signature": null,
  "unprotected": {
    "chunk_upload_stats": {
      "compressed_size": 2,
      "count": 18446744073709551615,
      "duplicates": 0,
      "size": 1
    },
    "notes": "a\"b</>&` + "\u2028" + `\u0001` + "\x7f" + `",
    "verify_state": {
      "state": "ok",
      "upid": "UPID:x"
    }
  },
  "zz-extra": {
    "a": -0.0001,
    "b": 1e30,
    "c": 100.0,
    "d": 1.5e-7,
    "e": 1.2345678901234568e29
  }
}`
	if string(out) != want {
		t.Fatalf("encode:\n%s\nwant:\n%s", out, want)
	}
	// Second round is stable.
	m2, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	out2, err := m2.Encode()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("not stable: %v\n%s", err, out2)
	}
	// Unknown keys are part of the signed data.
	c, err := m.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(c), `"zz-extra":{"a":-0.0001,"b":1e30,"c":100.0,"d":1.5e-7,"e":1.2345678901234568e29}`) ||
		!strings.Contains(string(c), `"future":[1,2.5,true]`) || strings.Contains(string(c), "unprotected") {
		t.Fatalf("canonical: %s", c)
	}
}

func TestCanonicalRejectsNull(t *testing.T) {
	m, err := Parse([]byte(`{"backup-type":"host","backup-id":"x","backup-time":0,"files":[],"x":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Canonical(); err == nil {
		t.Fatal("null accepted in canonical JSON")
	}
	if err := m.Sign([]byte("k")); err == nil {
		t.Fatal("Sign accepted null")
	}
	if _, err := m.Encode(); err != nil {
		t.Fatal("Encode must still work:", err)
	}
}

func TestStringEscaping(t *testing.T) {
	var b bytes.Buffer
	writeString(&b, "q\"\\/\b\f\n\r\t\x00\x1f\x7f<>&\u2028é")
	want := `"q\"\\/\b\f\n\r\t\u0000\u001f` + "\x7f<>&\u2028é" + `"`
	if b.String() != want {
		t.Fatalf("got %s want %s", b.String(), want)
	}
}

func TestNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0": "-0.0", "-5": "-5", "18446744073709551615": "18446744073709551615",
		"18446744073709551616": "1.8446744073709552e19", "-9223372036854775808": "-9223372036854775808",
		"1.0": "1.0", "0.1": "0.1", "1e2": "100.0", "1E16": "1e16", "1e15": "1000000000000000.0",
		"123.456": "123.456", "0.00001": "0.00001", "0.000001": "1e-6", "1.5e-7": "1.5e-7",
		"-2.5e20": "-2.5e20", "0.0": "0.0", "-0.0": "-0.0", "12345678.9e-2": "123456.789",
	} {
		got, err := formatNumber(in)
		if err != nil || got != want {
			t.Errorf("%s: got %s (%v) want %s", in, got, err, want)
		}
	}
	if _, err := formatNumber("1e999"); err == nil {
		t.Error("1e999 accepted")
	}
}

func TestParseErrors(t *testing.T) {
	base := func(files string) string {
		return `{"backup-type":"host","backup-id":"x","backup-time":1,"files":[` + files + `]}`
	}
	file := func(name, mode, size, csum string) string {
		return `{"filename":` + name + `,"crypt-mode":` + mode + `,"size":` + size + `,"csum":` + csum + `}`
	}
	good := file(`"a.blob"`, `"none"`, "1", `"`+csum1+`"`)
	if _, err := Parse([]byte(base(good))); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ doc, needle string }{
		"slash":       {base(file(`"a/b.blob"`, `"none"`, "1", `"`+csum1+`"`)), "a/b.blob"},
		"dotdot":      {base(file(`".."`, `"none"`, "1", `"`+csum1+`"`)), ".."},
		"ext":         {base(file(`"a.txt"`, `"none"`, "1", `"`+csum1+`"`)), "a.txt"},
		"bare ext":    {base(file(`".didx"`, `"none"`, "1", `"`+csum1+`"`)), ".didx"},
		"crypt":       {base(file(`"a.blob"`, `"aes"`, "1", `"`+csum1+`"`)), "aes"},
		"crypt null":  {base(file(`"a.blob"`, `null`, "1", `"`+csum1+`"`)), "crypt-mode"},
		"csum short":  {base(file(`"a.blob"`, `"none"`, "1", `"abcd"`)), "abcd"},
		"csum nonhex": {base(file(`"a.blob"`, `"none"`, "1", `"`+strings.Repeat("zz", 32)+`"`)), "zzzz"},
		"size neg":    {base(file(`"a.blob"`, `"none"`, "-1", `"`+csum1+`"`)), "-1"},
		"size float":  {base(file(`"a.blob"`, `"none"`, "1.5", `"`+csum1+`"`)), "1.5"},
		"dup":         {base(good + "," + good), "a.blob"},
		"type":        {`{"backup-type":"tape","backup-id":"x","backup-time":1,"files":[]}`, "tape"},
		"no id":       {`{"backup-type":"host","backup-time":1,"files":[]}`, "backup-id"},
		"time float":  {`{"backup-type":"host","backup-id":"x","backup-time":1.5,"files":[]}`, "1.5"},
		"no files":    {`{"backup-type":"host","backup-id":"x","backup-time":1}`, "files"},
		"unprot":      {`{"backup-type":"host","backup-id":"x","backup-time":1,"files":[],"unprotected":[]}`, "unprotected"},
		"sig":         {`{"backup-type":"host","backup-id":"x","backup-time":1,"files":[],"signature":5}`, "signature"},
		"not object":  {`[]`, "object"},
		"trailing":    {`{"backup-type":"host","backup-id":"x","backup-time":1,"files":[]} {}`, "JSON"},
		"bad utf8":    {"{\"backup-type\":\"host\",\"backup-id\":\"\xff\",\"backup-time\":1,\"files\":[]}", "UTF-8"},
	}
	for name, c := range cases {
		_, err := Parse([]byte(c.doc))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), c.needle) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.needle)
		}
	}
}

func TestEncodeValidates(t *testing.T) {
	m := &Manifest{BackupType: "host", BackupID: "x", Files: []File{{Filename: "../x.blob", Csum: csum1}}}
	if _, err := m.Encode(); err == nil {
		t.Error("bad filename encoded")
	}
	m.Files[0].Filename = "x.blob"
	m.Files[0].Csum = "00"
	if _, err := m.Encode(); err == nil {
		t.Error("bad csum encoded")
	}
	m.Files[0].Csum = csum1
	out, err := m.Encode()
	if err != nil || !strings.Contains(string(out), `"crypt-mode": "none"`) {
		t.Errorf("empty crypt-mode: %v %s", err, out)
	}
}

func TestUnprotectedGoValues(t *testing.T) {
	type stats struct {
		Count uint64 `json:"count"`
		Size  uint64 `json:"size"`
	}
	m := &Manifest{BackupType: "host", BackupID: "x", Unprotected: map[string]any{
		"s": stats{Count: 1 << 60, Size: 2}, "m": map[string]uint64{"b": 1, "a": 2}, "f": 0.5, "i": -3,
	}}
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	s := p.Unprotected["s"].(map[string]any)
	if s["count"] != json.Number("1152921504606846976") {
		t.Fatalf("%#v", s)
	}
	if !strings.Contains(string(out), "\"m\": {\n      \"a\": 2,\n      \"b\": 1\n    }") || !strings.Contains(string(out), `"f": 0.5`) {
		t.Fatalf("%s", out)
	}
}

// TestArchiveName pins every name rule in one table: the stored name,
// the name users see, the pxar stream kind and split pair, and the kind.
func TestArchiveName(t *testing.T) {
	type want struct {
		file, plain, base, kind, unified, meta, payload string
		pxar, payloadStream, image, blob                bool
	}
	for _, c := range []struct {
		in   string
		want want
	}{
		{"root.pxar", want{file: "root.pxar.didx", plain: "root.pxar", base: "root", kind: ".pxar",
			unified: "root.pxar.didx", meta: "root.mpxar.didx", payload: "root.ppxar.didx", pxar: true}},
		{"root.pxar.didx", want{file: "root.pxar.didx", plain: "root.pxar", base: "root", kind: ".pxar",
			unified: "root.pxar.didx", meta: "root.mpxar.didx", payload: "root.ppxar.didx", pxar: true}},
		{"root.mpxar", want{file: "root.mpxar.didx", plain: "root.mpxar", base: "root", kind: ".mpxar",
			unified: "root.pxar.didx", meta: "root.mpxar.didx", payload: "root.ppxar.didx", pxar: true}},
		{"root.ppxar.didx", want{file: "root.ppxar.didx", plain: "root.ppxar", base: "root", kind: ".ppxar",
			unified: "root.pxar.didx", meta: "root.mpxar.didx", payload: "root.ppxar.didx", pxar: true, payloadStream: true}},
		{"disk.img", want{file: "disk.img.fidx", plain: "disk.img", image: true}},
		{"disk.img.fidx", want{file: "disk.img.fidx", plain: "disk.img", image: true}},
		{"x.conf", want{file: "x.conf.blob", plain: "x.conf", blob: true}},
		{"x.log", want{file: "x.log.blob", plain: "x.log", blob: true}},
		{"index.json", want{file: "index.json.blob", plain: "index.json", blob: true}},
		{"a.blob", want{file: "a.blob", plain: "a", blob: true}},
		{"catalog.pcat1", want{file: "catalog.pcat1.blob", plain: "catalog.pcat1", blob: true}},
		{CatalogName, want{file: CatalogName, plain: "catalog.pcat1"}},
		// Not a pxar archive: nothing before the extension.
		{".pxar", want{file: ".pxar.didx", plain: ".pxar"}},
	} {
		t.Run(c.in, func(t *testing.T) {
			n := ArchiveName(c.in)
			var got want
			got.file, got.plain = n.FileName(), n.Plain()
			got.base, got.kind, _ = n.PxarBase()
			got.unified = n.Unified()
			got.meta, got.payload = n.Split()
			got.pxar, got.payloadStream, got.image, got.blob = n.IsPxar(), n.IsPayload(), n.IsImage(), n.IsBlob()
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	m := &Manifest{Files: []File{
		{Filename: "root.pxar.didx"}, {Filename: "disk.img.fidx"}, {Filename: "qemu-server.conf.blob"}, {Filename: "catalog.pcat1.didx"},
	}}
	for in, want := range map[string]string{
		"root.pxar": "root.pxar.didx", "root.pxar.didx": "root.pxar.didx", "disk.img": "disk.img.fidx",
		"qemu-server.conf": "qemu-server.conf.blob", "catalog.pcat1": "catalog.pcat1.didx",
	} {
		f, ok := m.Lookup(in)
		if !ok || f.Filename != want {
			t.Errorf("Lookup(%s) = %v %v", in, f, ok)
		}
	}
	for _, in := range []string{"nope", "root", "root.pxar.fidx", "index.json"} {
		if f, ok := m.Lookup(in); ok {
			t.Errorf("Lookup(%s) = %v", in, f)
		}
	}
	f, _ := m.Lookup("root.pxar")
	f.Size = 5
	if m.Files[0].Size != 5 {
		t.Error("Lookup must return a pointer into Files")
	}
}

func FuzzParse(f *testing.F) {
	m := specManifest()
	m.Sign([]byte("k"))
	data, _ := m.Encode()
	f.Add(data)
	f.Add([]byte(`{"backup-type":"vm","backup-id":"1","backup-time":0,"files":[],"x":{"y":[1e5,null,"\u0000"]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		out, err := m.Encode()
		if err != nil {
			return
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of encoded manifest failed: %v\n%s", err, out)
		}
		out2, err := m2.Encode()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding not stable: %v\n%s\n%s", err, out, out2)
		}
		_, _ = m.Canonical()
		_ = m.Verify([]byte("k"))
		_, _ = m.Lookup("root.pxar")
	})
}

func TestNestingLimit(t *testing.T) {
	doc := func(d int) []byte {
		return []byte(`{"backup-type":"vm","backup-id":"[{\"","backup-time":0,"files":[],"x":` + strings.Repeat("[", d) + strings.Repeat("]", d) + `}`)
	}
	if _, err := Parse(doc(126)); err != nil { // 127 levels in total
		t.Fatal(err)
	}
	if _, err := Parse(doc(127)); err == nil {
		t.Fatal("128 nesting levels accepted")
	}
}
