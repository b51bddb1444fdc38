package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

// slowMix writes a generated capture whose traffic spans minutes (a low
// packet rate), so that windows and timelines have something to cut.
func slowMix(t *testing.T, seed int64) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "slow-mix.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := pcapgen.Mix(f, pcapgen.MixOptions{Options: pcapgen.Options{Seed: seed}, Size: 12 << 20, Hosts: 60, PacketRate: 150}); err != nil {
		t.Fatal(err)
	}
	return name
}

var secondsRE = regexp.MustCompile(`(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+Z`)

// normalizeJSON drops what legitimately differs between the two paths:
// the sub-second part of times (ClickHouse 18.16 stores whole seconds)
// and the generation metadata.
func normalizeJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, s)
	}
	b, _ := json.MarshalIndent(v, "", " ")
	return secondsRE.ReplaceAllString(string(b), "${1}Z")
}

// TestReportPathsAgree: the impact and enforcement reports computed from
// captures (analyze --report) and from ClickHouse after the pipeline
// (analyze --kafka -> sink -> report) are the same, number for number.
func TestReportPathsAgree(t *testing.T) {
	p := newPipeline(t)
	files := []string{slowMix(t, 7)}
	start := pcapgen.DefaultStart
	at := start.Add(45 * time.Second).Format("2006-01-02 15:04:05")
	impactArgs := []string{"--report", "impact", "--from", start.Add(10 * time.Second).Format(time.RFC3339), "--to", start.Add(5 * time.Minute).Format(time.RFC3339)}
	enfArgs := []string{"--report", "enforcement", "--at", at, "--before", "30s", "--after", "2h"}

	fromCaptures := map[string]string{}
	for _, args := range [][]string{impactArgs, enfArgs} {
		for _, format := range []string{"csv", "json"} {
			a := append([]string{"analyze", "--config", "testdata/platform.yaml", "--sensor", "agree", "--progress", "never", "--format", format}, args...)
			code, out, errs := mxwatch(t, append(a, files...)...)
			if code != exitOK {
				t.Fatalf("analyze %v: exit %d: %s", args, code, errs)
			}
			fromCaptures[args[1]+"/"+format] = out
		}
	}
	// The same captures through Kafka into ClickHouse.
	want := p.analyze("agree", files...)
	r := p.startSink()
	p.waitStored(want, r)
	if code := r.stop(t); code != exitOK {
		t.Fatalf("sink exit %d", code)
	}

	for _, args := range [][]string{impactArgs, enfArgs} {
		kind := args[1]
		rargs := []string{"report", kind}
		rargs = append(rargs, args[2:]...)
		for _, format := range []string{"csv", "json"} {
			code, out, errs := mxwatch(t, append(append([]string{"--config", "/dev/null"}, rargs...), "--format", format)...)
			if code != exitOK {
				t.Fatalf("report %s: exit %d: %s", kind, code, errs)
			}
			capt := fromCaptures[kind+"/"+format]
			if format == "json" {
				out, capt = normalizeJSON(t, out), normalizeJSON(t, capt)
			}
			if out != capt {
				t.Errorf("%s %s differs between ClickHouse and captures:\n--- ClickHouse\n%s\n--- captures\n%s", kind, format, out, capt)
			}
			if strings.Count(out, "\n") < 3 {
				t.Errorf("%s %s is nearly empty:\n%s", kind, format, out)
			}
		}
	}
	// The comparison means something: the windows hold findings on both
	// sides of the cut and affected hosts.
	var imp struct {
		Totals struct {
			Hosts int `json:"hosts"`
		} `json:"totals"`
	}
	var enf struct {
		ByClass []struct {
			Connections struct{ Before, After uint64 } `json:"connections"`
		} `json:"by_class"`
	}
	_ = json.Unmarshal([]byte(fromCaptures["impact/json"]), &imp)
	_ = json.Unmarshal([]byte(fromCaptures["enforcement/json"]), &enf)
	var before, after uint64
	for _, c := range enf.ByClass {
		before += c.Connections.Before
		after += c.Connections.After
	}
	if imp.Totals.Hosts == 0 || before == 0 || after == 0 {
		t.Errorf("thin data: %d affected hosts, %d connections before, %d after", imp.Totals.Hosts, before, after)
	}
	t.Logf("impact: %d affected hosts; enforcement: %d connections before, %d after", imp.Totals.Hosts, before, after)
}
