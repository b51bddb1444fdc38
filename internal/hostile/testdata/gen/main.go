// Command gen writes the hostile captures of pcapgen.Hostile into a
// directory. The internal/hostile test builds and runs it without the race
// detector, so that writing 10^6 packets stays fast when the test itself
// runs with -race.
//
//	gen -dir DIR [-seed N] [-count N] CASE...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

func main() {
	dir := flag.String("dir", ".", "directory to write CASE.pcap files to")
	seed := flag.Int64("seed", 1, "seed of the generator")
	count := flag.Int("count", 0, "count of every case (0: the case's default)")
	flag.Parse()
	for _, name := range flag.Args() {
		if err := write(filepath.Join(*dir, name+".pcap"), name, pcapgen.HostileOptions{Seed: *seed, Count: *count}); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

func write(path, name string, opt pcapgen.HostileOptions) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = pcapgen.WriteHostile(bw, name, opt)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
