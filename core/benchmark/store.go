package benchmark

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cairn/core"
	"cairn/core/blob"
)

// TopStore is the reference for Store: a local datastore has no TLS link,
// so its figure stands where upstream's TLS upload speed does.
const TopStore = TopTLS

// storeWindow is how long Store writes (tests shorten it).
var storeWindow = 3 * time.Second

// Store measures how fast chunks reach a local datastore's disk: for about
// three seconds it encodes 4 MiB chunks as blobs and writes each as the
// chunk store does (write, fsync, rename) into a scratch directory of the
// datastore at dir, which it removes again. Bytes per second; write errors
// end no run (the figure shows them as slowness).
func Store(dir string) (float64, error) {
	if _, err := os.Stat(dir); err != nil {
		return 0, core.NotFoundf("datastore %q does not exist", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, ".chunks")); err != nil {
		return 0, fmt.Errorf("%q is not a datastore (no .chunks directory)", dir)
	}
	scratch, err := os.MkdirTemp(dir, ".benchmark-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(scratch)
	chunk := make([]byte, 4<<20)
	n := 0
	return measure(storeWindow, func() (int, error) {
		for i := 0; i < len(chunk)/4; i++ {
			binary.LittleEndian.PutUint32(chunk[4*i:], uint32(i+n))
		}
		enc, _ := blob.Encode(chunk, false, nil)
		tmp := filepath.Join(scratch, fmt.Sprintf("%d.tmp", n))
		f, err := os.Create(tmp)
		if err == nil {
			_, err = f.Write(enc)
			if err == nil {
				err = f.Sync()
			}
			f.Close()
		}
		if err == nil {
			os.Rename(tmp, filepath.Join(scratch, fmt.Sprint(n)))
		}
		n++
		return len(chunk), nil
	})
}
