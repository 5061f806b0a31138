//go:build reliability

package reliability

import (
	"bytes"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/core/index"
)

// flipByte xors one random bit of a byte at a random offset in [from, len).
func flipByte(t *testing.T, p string, from int) int {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if from >= len(b) {
		from = 0
	}
	off := from + mrand.IntN(len(b)-from)
	b[off] ^= 1 << mrand.IntN(8)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return off
}

// wrongFiles counts files in dst whose content is not a prefix of the
// source's: data that is wrong rather than missing.
func wrongFiles(src, dst string) (wrong, partial int) {
	filepath.Walk(dst, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dst, p)
		got, _ := os.ReadFile(p)
		want, err := os.ReadFile(filepath.Join(src, rel))
		switch {
		case err != nil:
			wrong++
		case bytes.Equal(got, want):
		case bytes.HasPrefix(want, got):
			partial++
		default:
			wrong++
		}
		return nil
	})
	return
}

func TestCorruption(t *testing.T) {
	n := runs(2, 10)
	src := tmpDir(t, "corsrc")
	mkSource(t, src, 800, 12)
	keyDir := tmpDir(t, "corkey")
	kinds := []string{"chunk", "encrypted chunk", "index", "manifest", "catalog", "key file"}
	type tally struct{ runs, detected, named, refused, wrong, marked, markable int }
	res := map[string]*tally{}
	var problems []string
	for _, k := range kinds {
		res[k] = &tally{}
	}
	for i := 0; i < n; i++ {
		for _, kind := range kinds {
			tl := res[kind]
			tl.runs++
			store := filepath.Join(tmpDir(t, "corstore"), "ds")
			key := filepath.Join(keyDir, fmt.Sprintf("k%d-%s.json", i, strings.ReplaceAll(kind, " ", "-")))
			mustRun(t, nil, "key", "create", key, "--kdf", "none")
			tm := time.Now().Add(-time.Hour).Unix()
			mustRun(t, nil, "backup", "root.pxar:"+src, "--repository", store, "--backup-id", "plain", "--backup-time", fmt.Sprint(tm), "--crypt-mode", "none")
			mustRun(t, nil, "backup", "root.pxar:"+src, "--repository", store, "--backup-id", "enc", "--backup-time", fmt.Sprint(tm), "--keyfile", key)
			plain := snapInfo{Type: "host", ID: "plain", Time: tm}
			enc := snapInfo{Type: "host", ID: "enc", Time: tm}
			snap := plain
			dir := filepath.Join(store, "host", "plain", time.Unix(tm, 0).UTC().Format("2006-01-02T15:04:05Z"))
			var name string // what the error must name
			archive := "root.pxar"
			markable := true
			switch kind {
			case "chunk", "encrypted chunk":
				if kind == "encrypted chunk" {
					snap = enc
					dir = strings.Replace(dir, "/plain/", "/enc/", 1)
				}
				b, _ := os.ReadFile(filepath.Join(dir, "root.pxar.didx"))
				ix, err := index.Open(b)
				if err != nil {
					t.Fatal(err)
				}
				d := ix.ChunkDigest(mrand.IntN(ix.Count()))
				name = hex.EncodeToString(d[:])[:8]
				flipByte(t, filepath.Join(store, ".chunks", name[:4], hex.EncodeToString(d[:])), 0)
			case "index":
				name = "root.pxar.didx"
				flipByte(t, filepath.Join(dir, name), 4096) // the body (the header's uuid/ctime carry no data)
			case "manifest":
				name = "manifest"
				flipByte(t, filepath.Join(dir, "index.json.blob"), 0)
				markable = false // the verify state lives in the manifest
			case "catalog":
				name = "catalog.pcat1.didx"
				flipByte(t, filepath.Join(dir, name), 4096)
				archive = "catalog.pcat1"
			case "key file":
				snap = enc
				name = "key"
				kb, _ := os.ReadFile(key)
				// change one base64 character of the key material
				i := bytes.Index(kb, []byte(`"data":"`)) + 8 + mrand.IntN(40)
				if kb[i] == 'A' {
					kb[i] = 'B'
				} else {
					kb[i] = 'A'
				}
				os.WriteFile(key, kb, 0o600)
				markable = false // the key is the client's: the stored data is intact
			}
			args := []string{"--repository", store, "--keyfile", key}
			dst := filepath.Join(workRoot, fmt.Sprintf("cor-%d", mrand.Int64()))
			var out string
			var err error
			if archive == "catalog.pcat1" {
				out, err = run(nil, append([]string{"catalog", "dump", snap.Name()}, args...)...)
			} else {
				out, err = run(nil, append([]string{"restore", snap.Name(), archive, dst}, args...)...)
			}
			if err != nil {
				tl.refused++
				if kind == "key file" {
					tl.detected++
					if regexpAny(strings.ToLower(out), "key", "fingerprint") {
						tl.named++
					} else {
						problems = append(problems, fmt.Sprintf("key file run %d: restore error does not name the key: %s", i, lastLines(out, 2)))
					}
				}
				t.Logf("%s run %d: %s refuses: %s", kind, i, archive, lastLines(out, 1))
			} else {
				problems = append(problems, fmt.Sprintf("%s run %d: %s of a corrupt snapshot succeeds", kind, i, archive))
			}
			if w, _ := wrongFiles(src, dst); w > 0 {
				tl.wrong += w
				problems = append(problems, fmt.Sprintf("%s run %d: restore wrote %d files with wrong content", kind, i, w))
			}
			os.RemoveAll(dst)
			if kind != "key file" {
				out, err := run(nil, "verify", snap.Name(), "--repository", store)
				if err != nil {
					tl.detected++
					if strings.Contains(out, name) {
						tl.named++
					} else {
						problems = append(problems, fmt.Sprintf("%s run %d: verify does not name %q: %s", kind, i, name, lastLines(out, 3)))
					}
				} else {
					problems = append(problems, fmt.Sprintf("%s run %d: verify passes a corrupt %s: %s", kind, i, kind, lastLines(out, 3)))
				}
			}
			if markable {
				tl.markable++
				marked := false
				snaps, err := listSnaps(nil, store)
				if err == nil {
					for _, s := range snaps {
						if s.Name() == snap.Name() && s.Verification != nil && s.Verification.State == "failed" {
							marked = true
							tl.marked++
						}
					}
				}
				if !marked {
					problems = append(problems, fmt.Sprintf("%s run %d: snapshot not marked failed after verify", kind, i))
				}
			}
			// The other snapshot of the store is untouched and still restores.
			other := enc
			if snap.ID == "enc" {
				other = plain
			}
			if kind != "key file" && kind != "chunk" && kind != "encrypted chunk" {
				if ok, msg := checkOneKey(t, store, other, src, key); !ok {
					problems = append(problems, fmt.Sprintf("%s run %d: untouched snapshot broken: %s", kind, i, msg))
				}
			}
			os.RemoveAll(filepath.Dir(store))
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	var parts []string
	for _, k := range kinds {
		r := res[k]
		mark := fmt.Sprintf("marked failed %d/%d", r.marked, r.markable)
		if r.markable == 0 {
			mark = "mark n/a"
		}
		parts = append(parts, fmt.Sprintf("%s: detected %d/%d, named %d/%d, refused %d/%d, %d wrong files, %s", k, r.detected, r.runs, r.named, r.runs, r.refused, r.runs, r.wrong, mark))
	}
	outcome := strings.Join(parts, "; ")
	if len(problems) > 0 {
		outcome = "FAIL: " + outcome
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "corruption: bit flips", n*len(kinds),
		"one random bit flipped in a random chunk (plain / encrypted), the didx body, index.json.blob, the catalog didx body, or the key's base64 key material",
		"verify exits 1 naming the digest or file; restore / catalog dump refuses; no restored file with wrong content; snapshot list shows verification failed", outcome)
}

func checkOneKey(t *testing.T, store string, s snapInfo, src, key string) (bool, string) {
	dst := filepath.Join(workRoot, fmt.Sprintf("r-%d", mrand.Int64()))
	defer os.RemoveAll(dst)
	args := []string{"--repository", store}
	if s.ID == "enc" {
		args = append(args, "--keyfile", key)
	}
	if out, err := run(nil, append([]string{"restore", s.Name(), "root.pxar", dst}, args...)...); err != nil {
		return false, lastLines(out, 2)
	}
	if err := sameTree(src, dst); err != nil {
		return false, err.Error()
	}
	return true, ""
}
