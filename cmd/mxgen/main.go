// Command mxgen writes deterministic synthetic packet captures for the
// tests, fuzz seeds, benchmarks and demos of mxwatch: the named scenarios
// of package capture/pcapgen, or a large mixed capture for benchmarks.
//
// Usage:
//
//	mxgen -list
//	mxgen -scenario NAME -o FILE      (-o - writes to standard output)
//	mxgen -all -dir DIR
//	mxgen -mix -size 200MB -seed 1 -o big.pcap
//
// Run mxgen -h for every flag.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

const usageText = `mxgen writes deterministic synthetic packet captures (same seed, same bytes).

Usage:
  mxgen -list                               list the named scenarios
  mxgen -scenario NAME -o FILE              write one scenario (-o - for stdout)
  mxgen -all -dir DIR                       write every scenario as DIR/NAME.pcap[ng][.gz]
  mxgen -mix -size 200MB -seed 1 -o FILE    write a large mixed capture for benchmarks

Examples:
  go run ./cmd/mxgen -list
  go run ./cmd/mxgen -scenario direct-to-mx -o direct-to-mx.pcap
  go run ./cmd/mxgen -scenario smtp-basic -o - | tshark -r - -qz follow,tcp,ascii,0
  go run ./cmd/mxgen -all -dir /tmp/scenarios
  go run ./cmd/mxgen -mix -size 200MB -seed 1 -o big.pcap
  go run ./cmd/mxgen -mix -size 50MB -format pcapng -link sll2 -gzip -o big.pcapng.gz

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags say.
type config struct {
	list, all, mix bool
	scenario, out  string
	dir            string
	size           int64
	seed           int64
	seedSet        bool
	format         pcapgen.Format
	link           pcapgen.Link
	gzip           bool
	rate, hosts    int
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "mxgen:", err)
		return 2
	}
	if err := execute(cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "mxgen:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("mxgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.BoolVar(&cfg.list, "list", false, "list the named scenarios with their descriptions")
	fs.StringVar(&cfg.scenario, "scenario", "", "write the scenario `NAME` (see -list)")
	fs.BoolVar(&cfg.all, "all", false, "write every scenario into -dir")
	fs.StringVar(&cfg.dir, "dir", ".", "output `DIR`ectory of -all")
	fs.BoolVar(&cfg.mix, "mix", false, "write a large mixed capture (needs -size and -o)")
	fs.StringVar(&cfg.out, "o", "", "output `FILE`; - is standard output")
	size := fs.String("size", "", "capture `SIZE` of -mix before compression: bytes or with KB, MB, GB (powers of 1000) or KiB, MiB, GiB")
	fs.Int64Var(&cfg.seed, "seed", 1, "random seed; for -scenario and -all it replaces each scenario's own seed when given")
	format := fs.String("format", "pcap", "file format of -mix: pcap, pcap-ns or pcapng")
	link := fs.String("link", "ethernet", "link type of -mix: ethernet, sll, sll2, raw or null")
	fs.BoolVar(&cfg.gzip, "gzip", false, "gzip-compress the -mix output")
	fs.IntVar(&cfg.rate, "rate", 20000, "average packets per second of capture time in -mix")
	fs.IntVar(&cfg.hosts, "hosts", 4000, "number of platform hosts in -mix (at most 63000)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			cfg.seedSet = true
		}
	})
	modes := 0
	for _, on := range []bool{cfg.list, cfg.scenario != "", cfg.all, cfg.mix} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return cfg, errors.New("give exactly one of -list, -scenario, -all, -mix (see -h)")
	}
	var err error
	if cfg.format, err = parseFormat(*format); err != nil {
		return cfg, err
	}
	if cfg.link, err = parseLink(*link); err != nil {
		return cfg, err
	}
	if cfg.mix {
		if *size == "" {
			return cfg, errors.New("-mix needs -size")
		}
		if cfg.size, err = parseSize(*size); err != nil {
			return cfg, err
		}
	}
	if (cfg.mix || cfg.scenario != "") && cfg.out == "" {
		return cfg, errors.New("-o FILE is required (use -o - for standard output)")
	}
	return cfg, nil
}

func parseFormat(s string) (pcapgen.Format, error) {
	for _, f := range []pcapgen.Format{pcapgen.PcapMicro, pcapgen.PcapNano, pcapgen.Pcapng} {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown -format %q: want pcap, pcap-ns or pcapng", s)
}

func parseLink(s string) (pcapgen.Link, error) {
	for _, l := range []pcapgen.Link{pcapgen.Ethernet, pcapgen.LinuxSLL, pcapgen.LinuxSLL2, pcapgen.Raw, pcapgen.Null} {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown -link %q: want ethernet, sll, sll2, raw or null", s)
}

// parseSize parses "200MB", "1.5GiB", "4096".
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), 1.0
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || v*mult > 1<<50 {
		return 0, fmt.Errorf("bad -size %q: want a positive size such as 200MB", s)
	}
	return int64(v * mult), nil
}

func execute(cfg config, stdout, stderr io.Writer) error {
	switch {
	case cfg.list:
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, s := range pcapgen.Scenarios() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Options.Ext(), s.Description)
		}
		return tw.Flush()
	case cfg.scenario != "":
		s, ok := pcapgen.Lookup(cfg.scenario)
		if !ok {
			return fmt.Errorf("%w: %q (see -list)", pcapgen.ErrUnknownScenario, cfg.scenario)
		}
		if cfg.seedSet {
			s.Options.Seed = cfg.seed
		}
		return writeTo(cfg.out, stdout, func(w io.Writer) error { return pcapgen.WriteScenario(w, s) })
	case cfg.all:
		if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", cfg.dir, err)
		}
		for _, s := range pcapgen.Scenarios() {
			if cfg.seedSet {
				s.Options.Seed = cfg.seed
			}
			path := filepath.Join(cfg.dir, s.Name+s.Options.Ext())
			if err := writeTo(path, stdout, func(w io.Writer) error { return pcapgen.WriteScenario(w, s) }); err != nil {
				return err
			}
			fmt.Fprintln(stdout, path)
		}
		return nil
	default:
		opt := pcapgen.MixOptions{
			Options:    pcapgen.Options{Format: cfg.format, Link: cfg.link, Gzip: cfg.gzip, Seed: cfg.seed},
			Size:       cfg.size,
			PacketRate: cfg.rate,
			Hosts:      cfg.hosts,
		}
		var st pcapgen.MixStats
		err := writeTo(cfg.out, stdout, func(w io.Writer) error {
			var err error
			st, err = pcapgen.Mix(w, opt)
			return err
		})
		if err != nil {
			return err
		}
		pct := func(n int) float64 { return 100 * float64(n) / float64(max(st.Packets, 1)) }
		fmt.Fprintf(stderr, "mxgen: %d packets, %d bytes, %d flows, %s of capture time; dns %.1f%%, smtp %.1f%%, noise %.1f%%\n",
			st.Packets, st.Bytes, st.Flows, st.Last.Sub(st.First).Round(time.Millisecond),
			pct(st.DNS), pct(st.SMTP), pct(st.Noise))
		return nil
	}
}

// writeTo runs write on the file at path ("-" is stdout) and closes it.
func writeTo(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
