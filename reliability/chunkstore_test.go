//go:build reliability

package reliability

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"cairn/core/blob"
	"cairn/core/index"
)

// Chunk-store attacks of issue 16 (items 4 and 7): a user overwriting
// another user's stored chunks with fakes held uncommitted, and backups
// that reported success on top of empty chunks.

// csFake is a CRC-valid "encrypted" chunk: a server cannot check it
// against the digest it is uploaded under.
func csFake(seed, n int) []byte {
	b := make([]byte, blob.EncryptedHeaderSize+n)
	copy(b, blob.MagicEncrypted[:])
	for i := blob.HeaderSize; i < len(b); i++ {
		b[i] = byte(i*31 + seed)
	}
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[blob.EncryptedHeaderSize:]))
	return b
}

// csChunkPath is a chunk file of a directory datastore.
func csChunkPath(store, digest string) string {
	return filepath.Join(store, ".chunks", digest[:4], digest)
}

// csDigests are the chunk digests alice's backup of src will have, learnt
// as an attacker who knows (or guesses) the data would: by backing the
// same tree up into a scratch path repository.
func csDigests(t *testing.T, src string, tm int64) []string {
	t.Helper()
	scratch := filepath.Join(tmpDir(t, "csprobe"), "ds")
	mustRun(t, nil, "backup", "root.pxar:"+src, "--repository", scratch, "--backup-id", "probe", "--backup-time", fmt.Sprint(tm))
	var out []string
	for d := range referencedChunks(t, scratch) {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// TestChunkOverwrite: per run, bob opens a backup session on cairn serve,
// uploads a CRC-valid fake chunk under every digest of alice's next backup
// and holds them uncommitted; alice backs up, verifies and restores; then
// bob appends them to his index and closes it, which commits his chunks.
// Alice's snapshot must still verify and restore byte-identical, and no
// stored chunk may hold bob's bytes.
func TestChunkOverwrite(t *testing.T) {
	n := runs(2, 10)
	store := filepath.Join(tmpDir(t, "csstore"), "ds")
	s := newServer(t, store)
	h := &hclient{addr: s.addr, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
	base := time.Now().Add(-time.Hour).Unix()
	held, replaced, aliceOK, verifiedBefore, bobCommits := 0, 0, 0, 0, 0
	var problems []string
	srcs := map[string]string{}
	for i := 0; i < n; i++ {
		src := tmpDir(t, "cssrc")
		mkSource(t, src, uint64(4000+i), 6)
		id := fmt.Sprintf("alice%d", i)
		srcs[id] = src
		digests := csDigests(t, src, base)

		_, _, bt, bc := h.login("bob@pbs", "bob-pw-1")
		q := url.Values{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {fmt.Sprintf("bob%d", i)}, "backup-time": {fmt.Sprint(base)}}
		cc, conn, code, msg := h.upgrade(bt, bc, q)
		if code != 101 {
			t.Fatalf("bob's upgrade: %d %s", code, msg)
		}
		c, body := h2call(cc, "POST", "dynamic_index", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil)
		var wid struct{ Data int }
		if c != 200 || json.Unmarshal([]byte(body), &wid) != nil {
			t.Fatalf("bob's dynamic_index: %d %s", c, body)
		}
		fakes := map[string][]byte{}
		var offsets []uint64
		var csumBody []byte
		var off uint64
		for j, d := range digests {
			fake := csFake(i*100+j, 4096+j)
			c, body := h2call(cc, "POST", "dynamic_chunk", url.Values{"wid": {fmt.Sprint(wid.Data)}, "digest": {d},
				"size": {fmt.Sprint(4096 + j)}, "encoded-size": {fmt.Sprint(len(fake))}}, "application/octet-stream", fake)
			if c != 200 {
				problems = append(problems, fmt.Sprintf("run %d: bob's fake chunk refused: %d %s", i, c, lastLines(body, 1)))
				continue
			}
			fakes[d] = fake
			raw, _ := hex.DecodeString(d)
			offsets = append(offsets, off)
			off += uint64(4096 + j)
			csumBody = binary.LittleEndian.AppendUint64(csumBody, off)
			csumBody = append(csumBody, raw...)
		}
		held += len(fakes)

		// Alice backs up (a fresh group: every chunk is offered) and verifies.
		repo := s.repo("alice@pbs")
		name := fmt.Sprintf("host/%s/%s", id, time.Unix(base, 0).UTC().Format("2006-01-02T15:04:05Z"))
		if out, err := run(s.env("alice@pbs"), "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", id, "--backup-time", fmt.Sprint(base)); err != nil {
			problems = append(problems, fmt.Sprintf("run %d: alice's backup: %v: %s", i, err, lastLines(out, 2)))
		} else if out, err := run(s.env("alice@pbs"), "verify", name, "--repository", repo); err != nil {
			problems = append(problems, fmt.Sprintf("run %d: alice's verify before bob's commit: %v: %s", i, err, lastLines(out, 2)))
		} else {
			verifiedBefore++
		}

		// Bob commits: appends his fakes to the index and closes it.
		var list []string
		for _, d := range digests {
			if fakes[d] != nil {
				list = append(list, d)
			}
		}
		ib, _ := json.Marshal(map[string]any{"wid": wid.Data, "digest-list": list, "offset-list": offsets})
		c1, b1 := h2call(cc, "PUT", "dynamic_index", nil, "application/json", ib)
		csum := sha256Hex(csumBody)
		c2, b2 := h2call(cc, "POST", "dynamic_close", url.Values{"wid": {fmt.Sprint(wid.Data)}, "chunk-count": {fmt.Sprint(len(list))},
			"size": {fmt.Sprint(off)}, "csum": {csum}}, "", nil)
		if c1 == 200 && c2 == 200 {
			bobCommits++
		} else {
			problems = append(problems, fmt.Sprintf("run %d: bob's commit: %d %s / %d %s", i, c1, lastLines(b1, 1), c2, lastLines(b2, 1)))
		}
		cc.Close()
		conn.Close()

		for d, fake := range fakes {
			got, err := os.ReadFile(csChunkPath(store, d))
			if err == nil && bytes.Equal(got, fake) {
				replaced++
			}
		}
		if out, err := run(s.env("alice@pbs"), "verify", name, "--repository", repo); err != nil {
			problems = append(problems, fmt.Sprintf("run %d: alice's verify after bob's commit: %v: %s", i, err, lastLines(out, 2)))
			continue
		}
		dst := filepath.Join(tmpDir(t, "csdst"), "r")
		if out, err := run(s.env("alice@pbs"), "restore", name, "root.pxar", dst, "--repository", repo); err != nil {
			problems = append(problems, fmt.Sprintf("run %d: alice's restore after bob's commit: %v: %s", i, err, lastLines(out, 2)))
		} else if err := sameTree(src, dst); err != nil {
			problems = append(problems, fmt.Sprintf("run %d: alice's restore differs: %v", i, err))
		} else {
			aliceOK++
		}
	}
	nChecked, bad := checkSnapshots(t, s.env("alice@pbs"), s.repo("alice@pbs"), func(si snapInfo) string { return srcs[si.ID] })
	problems = append(problems, bad...)
	if replaced > 0 {
		problems = append(problems, fmt.Sprintf("%d stored chunks hold bob's bytes", replaced))
	}
	outcome := fmt.Sprintf("%d fake chunks held under alice's digests in %d runs, %d/%d commits by bob accepted; %d of %d stored chunks replaced; "+
		"alice's snapshots verified before bob's commit %d/%d, verify+restore identical after it %d/%d; %d/%d final snapshots verify+restore identical",
		held, n, bobCommits, n, replaced, held, verifiedBefore, n, aliceOK, n, nChecked-len(bad), nChecked)
	if len(problems) > 0 {
		t.Errorf("problems: %s", strings.Join(problems, "; "))
		outcome = "FAIL: " + outcome + "; " + strings.Join(problems, "; ")
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "chunk overwrite: fakes held uncommitted", n,
		"bob (backup rights) uploads a CRC-valid fake 'encrypted' chunk under every digest of alice's next backup and holds them; alice backs up and verifies; bob then commits (index append + close)",
		"no stored chunk replaced by bob's bytes, alice's snapshot verifies and restores byte-identical after bob's commit", outcome)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// csSnapshotChunks lists the chunk digests of the snapshots of one group.
func csSnapshotChunks(t *testing.T, store, id string) []string {
	t.Helper()
	idx, _ := filepath.Glob(filepath.Join(store, "host", id, "*", "*.?idx"))
	seen := map[string]bool{}
	for _, p := range idx {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := index.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < ix.Count(); i++ {
			d := ix.ChunkDigest(i)
			seen[hex.EncodeToString(d[:])] = true
		}
	}
	var out []string
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// TestEmptyChunks: per run and per client (local path repository, then
// cairn serve), a backup is made, some of its chunk files are truncated to
// 0 bytes, and the same tree is backed up into a fresh group. The new
// backup must store the chunks again: every snapshot, old and new,
// verifies and restores identical, and no backup reports success over a
// chunk it cannot restore.
func TestEmptyChunks(t *testing.T) {
	n := runs(2, 10)
	base := time.Now().Add(-time.Hour).Unix()
	type side struct {
		name, store, repo string
		env               []string
	}
	local := side{name: "local"}
	local.store = filepath.Join(tmpDir(t, "ecloc"), "ds")
	local.repo = local.store
	srvStore := filepath.Join(tmpDir(t, "ecsrv"), "ds")
	s := newServer(t, srvStore)
	remote := side{name: "serve", store: srvStore, repo: s.repo("alice@pbs"), env: s.env("alice@pbs")}
	emptied, restoredChunks, backups, successOverBroken, badSnaps := 0, 0, 0, 0, 0
	var problems []string
	srcs := map[string]string{}
	checked := 0
	for _, sd := range []side{local, remote} {
		for i := 0; i < n; i++ {
			src := tmpDir(t, "ecsrc")
			mkSource(t, src, uint64(5000+i), 6)
			first, again := fmt.Sprintf("first%d", i), fmt.Sprintf("again%d", i)
			srcs[first], srcs[again] = src, src
			mustRun(t, sd.env, "backup", "root.pxar:"+src, "--repository", sd.repo, "--backup-id", first, "--backup-time", fmt.Sprint(base))
			// Truncate every other chunk of this backup (at least one).
			mine := csSnapshotChunks(t, sd.store, first)
			var hit []string
			for j, d := range mine {
				if j%2 == i%2 || len(mine) == 1 {
					if st, err := os.Stat(csChunkPath(sd.store, d)); err == nil && st.Size() > 0 {
						if err := os.Truncate(csChunkPath(sd.store, d), 0); err != nil {
							t.Fatal(err)
						}
						hit = append(hit, d)
					}
				}
			}
			emptied += len(hit)
			backups++
			name := fmt.Sprintf("host/%s/%s", again, time.Unix(base, 0).UTC().Format("2006-01-02T15:04:05Z"))
			if out, err := run(sd.env, "backup", "root.pxar:"+src, "--repository", sd.repo, "--backup-id", again, "--backup-time", fmt.Sprint(base)); err != nil {
				problems = append(problems, fmt.Sprintf("%s run %d: backup over empty chunks failed: %v: %s", sd.name, i, err, lastLines(out, 2)))
				continue
			}
			for _, d := range hit {
				if st, err := os.Stat(csChunkPath(sd.store, d)); err == nil && st.Size() > 0 {
					restoredChunks++
				}
			}
			dst := filepath.Join(tmpDir(t, "ecdst"), "r")
			out, err := run(sd.env, "restore", name, "root.pxar", dst, "--repository", sd.repo)
			if err == nil {
				err = sameTree(src, dst)
			}
			if err != nil {
				successOverBroken++
				problems = append(problems, fmt.Sprintf("%s run %d: backup succeeded but does not restore: %v %s", sd.name, i, err, lastLines(out, 1)))
			}
		}
		nc, bad := checkSnapshots(t, sd.env, sd.repo, func(si snapInfo) string { return srcs[si.ID] })
		checked += nc
		badSnaps += len(bad)
		problems = append(problems, bad...)
	}
	outcome := fmt.Sprintf("%d chunk files truncated to 0 bytes under %d backups (local and serve); %d/%d stored again by the next backup; "+
		"%d backups reported success over a chunk they could not restore; %d/%d final snapshots verify+restore identical",
		emptied, backups, restoredChunks, emptied, successOverBroken, checked-badSnaps, checked)
	if len(problems) > 0 {
		t.Errorf("problems: %s", strings.Join(problems, "; "))
		outcome = "FAIL: " + outcome + "; " + strings.Join(problems, "; ")
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "empty chunks: backup over truncated chunks", 2*n,
		"every other chunk file of a finished backup truncated to 0 bytes, then the same tree backed up into a fresh group (local path repository and cairn serve)",
		"the new backup stores the chunks again; it never reports success over a chunk it cannot restore; every snapshot verifies and restores identical", outcome)
}
