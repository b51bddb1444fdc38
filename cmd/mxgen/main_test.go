package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		err  bool
	}{
		{name: "bytes", in: "4096", want: 4096},
		{name: "MB", in: "200MB", want: 200_000_000},
		{name: "lower case", in: "2mb", want: 2_000_000},
		{name: "MiB", in: "1MiB", want: 1 << 20},
		{name: "fraction", in: "1.5GB", want: 1_500_000_000},
		{name: "K", in: "10K", want: 10_000},
		{name: "empty", in: "", err: true},
		{name: "negative", in: "-5MB", err: true},
		{name: "garbage", in: "lots", err: true},
		{name: "absurd", in: "1e30GB", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		file     string // must exist afterwards
		fileSize int64  // minimum size
	}{
		{name: "help", args: []string{"-h"}, code: 0, stderr: "go run ./cmd/mxgen -mix -size 200MB -seed 1 -o big.pcap"},
		{name: "no mode", args: nil, code: 2, stderr: "exactly one of"},
		{name: "two modes", args: []string{"-list", "-all"}, code: 2, stderr: "exactly one of"},
		{name: "list", args: []string{"-list"}, code: 0, stdout: "direct-to-mx"},
		{name: "unknown scenario", args: []string{"-scenario", "nope", "-o", "-"}, code: 1, stderr: "unknown scenario"},
		{name: "scenario without -o", args: []string{"-scenario", "smtp-basic"}, code: 2, stderr: "-o FILE"},
		{name: "scenario to file", args: []string{"-scenario", "direct-to-mx", "-o", filepath.Join(dir, "d.pcap")}, file: filepath.Join(dir, "d.pcap"), fileSize: 1000},
		{name: "scenario to stdout", args: []string{"-scenario", "smtp-basic", "-o", "-"}, stdout: "\xd4\xc3\xb2\xa1"},
		{name: "all", args: []string{"-all", "-dir", filepath.Join(dir, "all")}, stdout: "format-gzip.pcap.gz", file: filepath.Join(dir, "all", "format-pcapng.pcapng"), fileSize: 100},
		{name: "mix without size", args: []string{"-mix", "-o", "-"}, code: 2, stderr: "-size"},
		{name: "mix bad format", args: []string{"-mix", "-size", "1MB", "-format", "cap", "-o", "-"}, code: 2, stderr: "-format"},
		{name: "mix bad link", args: []string{"-mix", "-size", "1MB", "-link", "tokenring", "-o", "-"}, code: 2, stderr: "-link"},
		{name: "mix", args: []string{"-mix", "-size", "300KB", "-seed", "7", "-link", "sll", "-o", filepath.Join(dir, "m.pcap")}, stderr: "dns ", file: filepath.Join(dir, "m.pcap"), fileSize: 300_000},
		{name: "stray argument", args: []string{"-list", "extra"}, code: 2, stderr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout lacks %q: %.200q", tt.stdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q: %s", tt.stderr, stderr.String())
			}
			if tt.file != "" {
				st, err := os.Stat(tt.file)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() < tt.fileSize {
					t.Errorf("%s: %d bytes, want at least %d", tt.file, st.Size(), tt.fileSize)
				}
			}
		})
	}
	entries, err := os.ReadDir(filepath.Join(dir, "all"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(pcapgen.Scenarios()) {
		t.Errorf("-all wrote %d files, want %d", len(entries), len(pcapgen.Scenarios()))
	}
}

// TestSeedFlag checks that -seed changes a scenario and that the same seed
// gives the same bytes.
func TestSeedFlag(t *testing.T) {
	out := func(args ...string) []byte {
		var stdout, stderr bytes.Buffer
		if code := run(append(args, "-o", "-"), &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		return stdout.Bytes()
	}
	a := out("-scenario", "smtp-basic")
	b := out("-scenario", "smtp-basic", "-seed", "1")
	c := out("-scenario", "smtp-basic", "-seed", "2")
	if !bytes.Equal(a, b) {
		t.Error("-seed 1 differs from the scenario's own seed 1")
	}
	if bytes.Equal(a, c) {
		t.Error("-seed 2 did not change the capture")
	}
}
