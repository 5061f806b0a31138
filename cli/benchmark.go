package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
	"cairn/core/benchmark"
)

// SpeedTester is what a remote repository offers for the TLS upload test
// (protocol.md 10: a benchmark backup session and pipelined speedtest posts).
type SpeedTester interface {
	SpeedTest(window time.Duration, progress io.Writer) (bytes uint64, elapsed time.Duration, err error)
}

// benchFigure is one measured speed against upstream's reference machine.
type benchFigure struct {
	key, label string
	top        float64 // bytes/s on a Ryzen 7 2700X (protocol.md 10)
	speed      float64 // bytes/s; 0 = not tested
	tested     bool
}

func newBenchmarkCmd() *cobra.Command {
	var rf repoFlags
	var out outputFlag
	var cf cryptFlags
	cmd := &cobra.Command{
		Use:   "benchmark",
		Short: "Measure hashing, compression, encryption, verification and upload speed",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := out.options()
			if err != nil {
				return err
			}
			// Upstream opens the upload test's session with the key's crypt
			// config, which changes nothing the test sends (speedtest bodies
			// are plain); what the user sees is the key being read and
			// unlocked, so a wrong key or password fails here too.
			if cf.keyfile != "" {
				if _, err := cf.load(); err != nil {
					return err
				}
			}
			stderr := cmd.ErrOrStderr()
			figs := []*benchFigure{
				{key: "tls", label: "TLS (maximal backup upload speed)", top: benchmark.TopTLS},
				{key: "sha256", label: "SHA256 checksum computation speed", top: benchmark.TopSHA256},
				{key: "compress", label: "ZStd level 1 compression speed", top: benchmark.TopCompress},
				{key: "decompress", label: "ZStd level 1 decompression speed", top: benchmark.TopDecompress},
				{key: "verify", label: "Chunk verification speed", top: benchmark.TopVerify},
				{key: "aes256_gcm", label: "AES256 GCM encryption speed", top: benchmark.TopAES256GCM},
			}
			byKey := map[string]*benchFigure{}
			for _, f := range figs {
				byKey[f.key] = f
			}
			repoValue := rf.value()
			if repoValue != "" {
				spec, err := core.ParseRepository(repoValue)
				if err != nil {
					return usageError{err}
				}
				if spec.Local != "" {
					// A local datastore has no TLS: measure how fast chunks
					// reach its disk instead (write, fsync, rename).
					store := &benchFigure{key: "store", label: "Local store (maximal chunk store speed)", top: benchmark.TopStore}
					figs = append([]*benchFigure{store}, figs[1:]...)
					byKey["store"] = store
					delete(byKey, "tls")
					sp, err := benchmark.Store(spec.Local)
					if err != nil {
						return err
					}
					store.speed, store.tested = sp, true
					fmt.Fprintf(stderr, "Store speed: %.2f MB/s\n", sp/1e6)
				} else {
					repo, err := rf.open(false)
					if err != nil {
						return err
					}
					st, ok := repo.(SpeedTester)
					if !ok {
						repo.Close()
						return fmt.Errorf("repository %q does not support the upload speed test", repoValue)
					}
					n, el, err := st.SpeedTest(5*time.Second, stderr)
					repo.Close()
					if err != nil {
						return err
					}
					byKey["tls"].speed, byKey["tls"].tested = float64(n)/el.Seconds(), true
					fmt.Fprintf(stderr, "TLS speed: %.2f MB/s\n", byKey["tls"].speed/1e6)
				}
			}
			// Upstream's buffer, loops and per-iteration work (core/benchmark),
			// so the percentages compare with upstream's on this machine.
			data := benchmark.Data()
			for _, t := range []struct {
				key, label string
				run        func([]byte) (float64, error)
			}{
				{"sha256", "SHA256", benchmark.SHA256},
				{"compress", "Compression", benchmark.Compress},
				{"decompress", "Decompress", benchmark.Decompress},
				{"aes256_gcm", "AES256/GCM", benchmark.AES256GCM},
				{"verify", "Verify", benchmark.Verify},
			} {
				speed, err := t.run(data)
				if err != nil {
					return err
				}
				f := byKey[t.key]
				f.speed, f.tested = speed, true
				fmt.Fprintf(stderr, "%s speed: %.2f MB/s\n", t.label, speed/1e6)
			}
			return printBenchmark(opts, figs)
		},
	}
	rf.add(cmd, false)
	out.add(cmd)
	cmd.Flags().StringVar(&cf.keyfile, "keyfile", "", "encryption key to open the upload test's session with (read and unlocked as a backup would; the test data is sent plain, as upstream does)")
	return cmd
}

func printBenchmark(opts format.Options, figs []*benchFigure) error {
	if opts.Format != format.Text {
		obj := map[string]any{}
		for _, f := range figs {
			m := map[string]any{"top": f.top}
			if f.tested {
				m["speed"] = f.speed
			}
			obj[f.key] = m
		}
		return format.Render(stdout, opts, obj, nil)
	}
	var rows []map[string]any
	for _, f := range figs {
		v := "not tested"
		if f.tested {
			v = fmt.Sprintf("%.2f MB/s (%.0f%%)", f.speed/1e6, f.speed*100/f.top)
		}
		rows = append(rows, map[string]any{"name": f.label, "value": v})
	}
	return format.Render(stdout, opts, rows, []format.Column{{Key: "name", Header: "Name"}, {Key: "value", Header: "Value"}})
}
