package clickhouse

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatementsGolden(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		server string
	}{
		{name: "cluster-24.8", cfg: Config{Database: "mxwatch", Cluster: "mx", RetentionDays: 90}, server: "24.8.4.13"},
		{name: "single-18.16", cfg: Config{Database: "mxwatch", RetentionDays: 90}, server: "18.16.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVersion(tc.server)
			if err != nil {
				t.Fatal(err)
			}
			migs, err := Statements(tc.cfg, v)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, m := range migs {
				for _, s := range m.Statements {
					b.WriteString("-- " + m.Name + "\n" + s + ";\n\n")
				}
			}
			path := filepath.Join("testdata", tc.name+".sql.golden")
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("rendered SQL differs from %s (run with -update and review)", path)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Version
		err  bool
	}{
		{name: "debian", in: "18.16.1", want: Version{18, 16, 1}},
		{name: "four parts", in: "24.3.2.23", want: Version{24, 3, 2}},
		{name: "two parts", in: "23.8", want: Version{23, 8, 0}},
		{name: "suffix", in: "22.8.1-lts", want: Version{22, 8, 1}},
		{name: "empty", in: "", err: true},
		{name: "junk", in: "a.b.c", err: true},
		{name: "huge", in: "99999999999.1", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVersion(tc.in)
			if tc.err {
				if !errors.Is(err, ErrBadVersion) {
					t.Fatalf("err = %v, want ErrBadVersion", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	tests := []struct {
		name string
		v    Version
		want Features
	}{
		{name: "18.16", v: Version{18, 16, 1}, want: Features{}},
		{name: "19.6", v: Version{19, 6, 0}, want: Features{TTL: true, IPTypes: true}},
		{name: "24.8", v: Version{24, 8, 0}, want: Features{TTL: true, LowCardinality: true, IPTypes: true, DateTime64: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FeaturesFor(tc.v); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "default", cfg: Config{}, ok: true},
		{name: "injection", cfg: Config{Database: "x; DROP TABLE y"}},
		{name: "bad cluster", cfg: Config{Cluster: "a b"}},
		{name: "negative ttl", cfg: Config{RetentionDays: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, ok want %v", err, tc.ok)
			}
		})
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"18.16.1", "24.3.2.23", "", "1", "1.2.x", "22.8.1-lts", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err == nil && (v.Major < 0 || v.Minor < 0 || v.Patch < 0) {
			t.Fatalf("negative version %v from %q", v, s)
		}
	})
}
