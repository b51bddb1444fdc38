//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

// TestAnalyzeHugePages runs the real binary (built without the race
// detector, whose shadow memory would hide the effect) on a generated
// mixed capture with and without --huge-pages, and compares the page
// faults the kernel counted for the child: with huge pages the run costs
// far fewer, and the output is the same. (That the reservation does not
// become resident is internal/thp's TestReserve; a child's ru_maxrss here
// would include the test process it was forked from.)
func TestAnalyzeHugePages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and analyzes a 40 MB capture twice; skipped with -short")
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(mode), "[always]") && !strings.Contains(string(mode), "[madvise]") {
		t.Skipf("transparent huge pages are off on this kernel (%q, %v)", strings.TrimSpace(string(mode)), err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mxwatch")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/mxwatch/mxwatch/cmd/mxwatch").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "mix.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if _, err := pcapgen.Mix(w, pcapgen.MixOptions{Options: pcapgen.Options{Seed: 1}, Size: 150_000_000}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	type run struct {
		out    []byte
		minflt int64
	}
	analyze := func(huge, file string) run {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(t.Context(), bin, "analyze", "--log-level", "debug", "--huge-pages="+huge, "--format", "json", "--progress", "never", file)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("analyze --huge-pages=%s: %v\n%s", huge, err, stderr.Bytes())
		}
		if huge == "true" && bytes.Contains(stderr.Bytes(), []byte("no huge pages")) {
			t.Fatalf("analyze could not reserve huge pages: %s", stderr.Bytes())
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		return run{stdout.Bytes(), ru.Minflt}
	}
	// The smallest of three runs each: another process's activity only
	// adds faults.
	best := func(huge, file string) run {
		r := analyze(huge, file)
		for range 2 {
			if s := analyze(huge, file); s.minflt < r.minflt {
				r.minflt = s.minflt
			}
		}
		return r
	}
	// Start-up costs the same faults either way (the binary's pages, the
	// packages' initialisation): what a tiny capture costs is subtracted.
	tiny := filepath.Join("..", "..", "testdata", "classes.pcap")
	with, without := best("true", file), best("false", file)
	baseWith, baseWithout := best("true", tiny), best("false", tiny)
	heapWith, heapWithout := with.minflt-baseWith.minflt, without.minflt-baseWithout.minflt
	t.Logf("page faults: %d with huge pages, %d without; on a tiny capture %d and %d; the run's own: %d and %d",
		with.minflt, without.minflt, baseWith.minflt, baseWithout.minflt, heapWith, heapWithout)

	var a, b any
	if err := json.Unmarshal(with.out, &a); err != nil {
		t.Fatalf("output with huge pages: %v", err)
	}
	if err := json.Unmarshal(without.out, &b); err != nil {
		t.Fatalf("output without huge pages: %v", err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("the report differs with huge pages:\n%s\nwithout:\n%s", ja, jb)
	}
	if heapWith*2 > heapWithout {
		t.Errorf("the run's own page faults: %d with huge pages, %d without; want at most half", heapWith, heapWithout)
	}
}
