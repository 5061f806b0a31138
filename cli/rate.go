package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"cairn/core/ratelimit"
)

// rateFlags are --rate and --burst: a token-bucket limit of the bytes a
// command sends and, separately, receives (upstream's
// RateLimitConfig::with_same_inout). For a server repository it holds for
// all the client's connections together; for a local or S3 datastore
// (opened in-process) for the chunks, indexes and blobs it writes and
// reads. Values are bytes as upstream 3.2.4 takes them (1000000) or
// HumanByte sizes as later upstream (10MiB, 5MB, 1.5G); --burst defaults
// to --rate, and without --rate it has no effect, as upstream.
type rateFlags struct {
	rate  byteSizeFlag
	burst byteSizeFlag
}

// addRate adds --rate and --burst to cmd; open then applies them.
func (f *repoFlags) addRate(cmd *cobra.Command) {
	f.rate = &rateFlags{
		rate:  byteSizeFlag{parse: ratelimit.ParseRate},
		burst: byteSizeFlag{parse: ratelimit.ParseBurst},
	}
	cmd.Flags().Var(&f.rate.rate, "rate", "limit the transfer rate to this many bytes per second, each direction (e.g. 1000000, 10MiB, 5MB; at least "+strconv.Itoa(ratelimit.MinRate)+")")
	cmd.Flags().Var(&f.rate.burst, "burst", "token bucket size in bytes for --rate (default: the rate; at least "+strconv.Itoa(ratelimit.MinBurst)+")")
}

// config is the limit asked for; zero (no limit) without addRate or --rate.
func (r *rateFlags) config() ratelimit.Config {
	if r == nil {
		return ratelimit.Config{}
	}
	return ratelimit.Config{Rate: r.rate.n, Burst: r.burst.n}
}

// byteSizeFlag is a pflag.Value holding a parsed byte count: a bad value
// is a usage error naming it when the command line is parsed.
type byteSizeFlag struct {
	n     uint64
	s     string
	parse func(string) (uint64, error)
}

func (b *byteSizeFlag) String() string { return b.s }
func (b *byteSizeFlag) Type() string   { return "SIZE" }

func (b *byteSizeFlag) Set(s string) error {
	n, err := b.parse(s)
	if err != nil {
		return err
	}
	b.n, b.s = n, s
	return nil
}
