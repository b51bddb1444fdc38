package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/sink/clickhouse"
	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
)

// The pipeline tests run the real commands against real servers: analyze
// --kafka publishes to kfake (an in-process Kafka protocol broker), sink
// reads it with kafka-go and writes with clickhouse-go to Debian's
// clickhouse-server started on free loopback ports. What analyze computed
// in memory (its JSON report) must equal what ClickHouse holds, exactly.

// Helper-process mode: some tests run this test binary as `mxwatch
// sink`, a real process that gets real signals. With a marker file, a
// hook blocks between storing a batch and committing it, so that a
// SIGKILL lands mid-batch.
const (
	helperArgsEnv = "MXWATCH_TEST_SINK_ARGS"   // arguments, separated by \x1f
	helperEnv     = "MXWATCH_TEST_SINK_HELPER" // marker file to create when blocked
	helperBatch   = 3                          // block before committing this batch
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(replayEnv); spec != "" {
		os.Exit(replayHelper(spec))
	}
	if spec := os.Getenv(digEnv); spec != "" {
		os.Exit(digHelper(spec))
	}
	if port := os.Getenv(kfakeEnv); port != "" {
		os.Exit(kfakeHelper(port))
	}
	if args := os.Getenv(helperArgsEnv); args != "" {
		if marker := os.Getenv(helperEnv); marker != "" {
			var n atomic.Int32
			testHookBeforeCommit = func() {
				if n.Add(1) == helperBatch {
					if err := os.WriteFile(marker, []byte("stored, not committed\n"), 0o600); err != nil {
						fmt.Fprintln(os.Stderr, err)
					}
					select {} // wait for SIGKILL
				}
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, strings.Split(args, "\x1f"), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// sinkProcess starts `mxwatch sink args...` as a process of its own.
func sinkProcess(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), env...), helperArgsEnv+"="+strings.Join(append([]string{"sink"}, args...), "\x1f"))
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &log
}

// expect is what analyze reported, as counters that add up over runs:
// totals by table and per-source figures keyed "host|class|what".
type expect struct {
	totals    map[string]uint64
	perSource map[string]uint64
}

func (e *expect) add(o expect) {
	for k, v := range o.totals {
		e.totals[k] += v
	}
	for k, v := range o.perSource {
		e.perSource[k] += v
	}
}

func newExpect() expect {
	return expect{totals: map[string]uint64{}, perSource: map[string]uint64{}}
}

// analyzeJSON is the part of `analyze --format json` the tests compare.
type analyzeJSON struct {
	Summary struct {
		Sessions   uint64 `json:"sessions"`
		Messages   uint64 `json:"messages"`
		Recipients uint64 `json:"recipients"`
		DNSAnswers uint64 `json:"dns_answers"`
		Counters   []struct {
			Stage string `json:"stage"`
			Name  string `json:"name"`
			Count uint64 `json:"count"`
		} `json:"counters"`
		Exact      bool `json:"rankings_exact"`
		TopTalkers []struct {
			Client     string `json:"client"`
			Sessions   uint64 `json:"sessions"`
			Messages   uint64 `json:"messages"`
			Recipients uint64 `json:"recipients"`
		} `json:"top_talkers"`
	} `json:"summary"`
	Report struct {
		Connections  uint64 `json:"connections"`
		AlertsTotal  uint64 `json:"alerts_total"`
		SourcesTotal int    `json:"sources_total"`
		Sources      []struct {
			Host       string `json:"host"`
			Accepted   uint64 `json:"accepted"`
			Rejected   uint64 `json:"rejected"`
			TempFailed uint64 `json:"tempfailed"`
			ByClass    []struct {
				Class       string `json:"class"`
				Connections uint64 `json:"connections"`
				Messages    uint64 `json:"messages"`
			} `json:"by_class"`
		} `json:"sources"`
	} `json:"report"`
}

type pipeline struct {
	t       *testing.T
	ch      *chtest.Server
	brokers []string
	conn    driver.Conn
	db      string
}

// newPipeline starts ClickHouse and kfake and points the configuration
// (through the environment) at them.
func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	srv := chtest.Start(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p := &pipeline{t: t, ch: srv, brokers: c.ListenAddrs(), db: "mxe2e"}
	for k, v := range map[string]string{
		"MXWATCH_CLICKHOUSE_ADDR":     srv.Addr,
		"MXWATCH_CLICKHOUSE_DATABASE": p.db,
		"MXWATCH_KAFKA_SPOOL_DIR":     filepath.Join(t.TempDir(), "spool"),
		"MXWATCH_KAFKA_PARTITIONS":    "3",
		"MXWATCH_SINK_BATCH_SIZE":     "40",
		"MXWATCH_SINK_BATCH_TIMEOUT":  "100ms",
		"MXWATCH_SINK_RETRY_MIN":      "50ms",
		"MXWATCH_SINK_RETRY_MAX":      "500ms",
		"MXWATCH_SINK_STATS_INTERVAL": "0s",
	} {
		t.Setenv(k, v)
	}
	conn, err := clickhouse.Dial(clickhouse.Config{Addr: srv.Addr, Database: p.db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p.conn = conn
	return p
}

// mixCapture writes a generated capture of about size bytes with many
// platform hosts (10.20.0.0/16, as in testdata/platform.yaml).
func mixCapture(t *testing.T, size int64, seed int64) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), fmt.Sprintf("mix-%d.pcap", seed))
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := pcapgen.Mix(f, pcapgen.MixOptions{Options: pcapgen.Options{Seed: seed}, Size: size, Hosts: 60}); err != nil {
		t.Fatal(err)
	}
	return name
}

// scenarioCapture writes the named generated scenario.
func scenarioCapture(t *testing.T, name string) string {
	t.Helper()
	sc, ok := pcapgen.Lookup(name)
	if !ok {
		t.Fatalf("no scenario %q", name)
	}
	file := filepath.Join(t.TempDir(), name+".pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pcapgen.WriteScenario(f, sc); err != nil {
		t.Fatal(err)
	}
	return file
}

// analyze runs `mxwatch analyze --kafka` on files as sensor and returns
// what it computed in memory. Event ids include the sensor name, so runs
// with different sensors never share ids.
func (p *pipeline) analyze(sensor string, files ...string) expect {
	p.t.Helper()
	args := append([]string{"analyze", "--config", "testdata/platform.yaml", "--sensor", sensor, "--format", "json", "--top", "100000",
		"--progress", "never", "--kafka", strings.Join(p.brokers, ",")}, files...)
	code, out, errs := mxwatch(p.t, args...)
	if code != exitOK {
		p.t.Fatalf("analyze: exit %d: %s", code, errs)
	}
	var a analyzeJSON
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		p.t.Fatalf("analyze output: %v", err)
	}
	if !a.Summary.Exact || a.Report.SourcesTotal != len(a.Report.Sources) {
		p.t.Fatalf("analyze's rankings are not exact (%d of %d sources listed)", len(a.Report.Sources), a.Report.SourcesTotal)
	}
	published := -1
	for _, c := range a.Summary.Counters {
		if c.Stage == "kafka" && c.Name == "published" {
			published = int(c.Count)
		}
	}
	if n := a.Summary.Sessions + a.Summary.Messages + a.Summary.DNSAnswers + a.Report.Connections + a.Report.AlertsTotal; published != int(n) {
		p.t.Fatalf("analyze published %d events to Kafka, want %d", published, n)
	}
	e := newExpect()
	e.totals["sessions"] = a.Summary.Sessions
	e.totals["messages"] = a.Summary.Messages
	e.totals["recipients"] = a.Summary.Recipients
	e.totals["dns_answers"] = a.Summary.DNSAnswers
	e.totals["findings"] = a.Report.Connections
	e.totals["alerts"] = a.Report.AlertsTotal
	for _, tk := range a.Summary.TopTalkers {
		e.perSource[tk.Client+"||sessions"] += tk.Sessions
		e.perSource[tk.Client+"||messages"] += tk.Messages
		e.perSource[tk.Client+"||recipients"] += tk.Recipients
	}
	for _, s := range a.Report.Sources {
		e.perSource[s.Host+"||accepted"] += s.Accepted
		e.perSource[s.Host+"||rejected"] += s.Rejected
		e.perSource[s.Host+"||tempfailed"] += s.TempFailed
		for _, c := range s.ByClass {
			e.perSource[s.Host+"|"+c.Class+"|findings"] += c.Connections
			e.perSource[s.Host+"|"+c.Class+"|finding_messages"] += c.Messages
		}
	}
	for k, v := range e.perSource {
		if v == 0 {
			delete(e.perSource, k)
		}
	}
	return e
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type sinkRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run returned, code set
	code   int
	stderr *syncBuffer
}

// startSink runs `mxwatch sink` in this process until stop.
func (p *pipeline) startSink(extra ...string) *sinkRun {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &sinkRun{cancel: cancel, done: make(chan struct{}), stderr: &syncBuffer{}}
	args := append([]string{"sink", "--config", "/dev/null", "--kafka", strings.Join(p.brokers, ",")}, extra...)
	go func() {
		defer close(r.done)
		r.code = run(ctx, args, &bytes.Buffer{}, r.stderr)
	}()
	p.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
		}
	})
	return r
}

// stop sends the equivalent of SIGTERM and returns the exit code.
func (r *sinkRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.code
	case <-time.After(2 * time.Minute):
		t.Fatalf("sink did not stop; log:\n%s", r.stderr.String())
		return -1
	}
}

func (p *pipeline) query(q string, args ...any) [][]string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := p.conn.Query(ctx, q, args...)
	if err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		cols := rows.ColumnTypes()
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = newScanTarget(c.DatabaseTypeName())
		}
		if err := rows.Scan(vals...); err != nil {
			p.t.Fatalf("%s: scan: %v", q, err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(deref(v))
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
	return out
}

func newScanTarget(typ string) any {
	switch {
	case strings.HasPrefix(typ, "UInt64"):
		return new(uint64)
	default:
		return new(string)
	}
}

func deref(v any) any {
	switch x := v.(type) {
	case *uint64:
		return *x
	case *string:
		return *x
	}
	return v
}

// host normalizes an address as ClickHouse returns it (String column, or
// IPv6 with IPv4 mapped) to the form analyze prints.
func host(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	return a.Unmap().String()
}

// stored reads the same figures as analyze's from ClickHouse: event tables
// counted with FINAL (deduplicated by id), per-class figures both from
// the findings table and from the hourly aggregate.
func (p *pipeline) stored() expect {
	p.t.Helper()
	e := newExpect()
	db := p.db
	for table, q := range map[string]string{
		"sessions":    "SELECT count() FROM " + db + ".sessions FINAL",
		"messages":    "SELECT count() FROM " + db + ".messages FINAL",
		"recipients":  "SELECT toUInt64(sum(length(rcpt_addrs))) FROM " + db + ".messages FINAL",
		"dns_answers": "SELECT count() FROM " + db + ".dns_answers FINAL",
		"findings":    "SELECT count() FROM " + db + ".findings FINAL",
		"alerts":      "SELECT count() FROM " + db + ".alerts FINAL",
	} {
		n, _ := strconv.ParseUint(p.query(q)[0][0], 10, 64)
		e.totals[table] = n
	}
	add := func(q string, names ...string) {
		for _, r := range p.query(q) {
			for i, name := range names {
				n, _ := strconv.ParseUint(r[2+i], 10, 64)
				if n != 0 {
					e.perSource[host(r[0])+"|"+r[1]+"|"+name] += n
				}
			}
		}
	}
	add("SELECT toString(client), '', count() FROM "+db+".sessions FINAL GROUP BY client", "sessions")
	add("SELECT toString(client), '', count(), toUInt64(sum(length(rcpt_addrs))) FROM "+db+".messages FINAL GROUP BY client", "messages", "recipients")
	add("SELECT toString(client), '', toUInt64(sum(accepted)), toUInt64(sum(rejected)), toUInt64(sum(tempfailed)) FROM "+db+".findings FINAL GROUP BY client",
		"accepted", "rejected", "tempfailed")
	add("SELECT toString(client), toString(class), count(), toUInt64(sum(messages)) FROM "+db+".findings FINAL GROUP BY client, class",
		"findings", "finding_messages")
	return e
}

// hourly reads per-source, per-class counts from the aggregate table that
// the materialized view fills (uniqExact over ids, so duplicates do not
// count).
func (p *pipeline) hourly() map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range p.query("SELECT toString(client), toString(class), toUInt64(uniqExactMerge(findings)), toUInt64(uniqExactArrayMerge(messages)) FROM " +
		p.db + ".hourly_by_source GROUP BY client, class") {
		for i, name := range []string{"findings", "finding_messages"} {
			if n, _ := strconv.ParseUint(r[2+i], 10, 64); n != 0 {
				out[host(r[0])+"|"+r[1]+"|"+name] = n
			}
		}
	}
	return out
}

func (p *pipeline) tablesExist() bool {
	rows := p.query("SELECT count() FROM system.tables WHERE database = ? AND name = 'alerts'", p.db)
	return len(rows) == 1 && rows[0][0] == "1"
}

// waitStored polls ClickHouse until its totals equal want's, or fails
// after a minute with the log of the sink.
func (p *pipeline) waitStored(want expect, r *sinkRun) {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if p.tablesExist() {
			got := p.stored()
			if maps.Equal(got.totals, want.totals) {
				return
			}
			if time.Now().After(deadline) {
				p.t.Fatalf("ClickHouse holds %v, analyze computed %v; sink log:\n%s", got.totals, want.totals, r.stderr.String())
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check compares everything: totals, per-source figures from the event
// tables, and per-source per-class figures from the hourly aggregate.
func (p *pipeline) check(want expect) {
	p.t.Helper()
	got := p.stored()
	if !maps.Equal(got.totals, want.totals) {
		p.t.Errorf("totals: ClickHouse %v, analyze %v", got.totals, want.totals)
	}
	diff(p.t, "per source", got.perSource, want.perSource)
	wantHourly := map[string]uint64{}
	for k, v := range want.perSource {
		if strings.HasSuffix(k, "|findings") || strings.HasSuffix(k, "|finding_messages") {
			wantHourly[k] = v
		}
	}
	diff(p.t, "hourly_by_source", p.hourly(), wantHourly)
	if len(want.perSource) < 10 {
		p.t.Errorf("only %d per-source figures: the comparison is too thin", len(want.perSource))
	}
}

func diff(t *testing.T, what string, got, want map[string]uint64) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	bad := 0
	for _, k := range keys {
		if got[k] != want[k] {
			if bad++; bad <= 20 {
				t.Errorf("%s %s: ClickHouse %d, analyze %d", what, k, got[k], want[k])
			}
		}
	}
	if bad > 20 {
		t.Errorf("%s: %d more differences", what, bad-20)
	}
}

// TestSinkEndToEnd: generated captures -> analyze --kafka -> kfake -> sink
// -> ClickHouse; row counts and per-source aggregates in ClickHouse equal
// what analyze computed in memory; SIGTERM-like shutdown exits 0.
func TestSinkEndToEnd(t *testing.T) {
	p := newPipeline(t)
	want := p.analyze("mix", mixCapture(t, 24<<20, 1))
	want.add(p.analyze("classes", "../../testdata/classes.pcap"))
	want.add(p.analyze("burst", scenarioCapture(t, "rejection-burst")))
	if want.totals["sessions"] < 40 || want.totals["dns_answers"] < 200 || want.totals["findings"] == 0 || want.totals["alerts"] == 0 {
		t.Fatalf("generated input too small to mean anything: %v", want.totals)
	}
	t.Logf("analyze computed %v over %d per-source figures", want.totals, len(want.perSource))
	t.Setenv("MXWATCH_METRICS_LISTEN", "127.0.0.1:0")
	t.Setenv("MXWATCH_METRICS_BEARER_TOKEN", "t0ken")
	r := p.startSink()
	p.waitStored(want, r)
	// The metrics endpoint agrees with ClickHouse.
	m := regexp.MustCompile(`msg="serving metrics" component=telemetry addr=(\S+)`).FindStringSubmatch(r.stderr.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", r.stderr.String())
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+m[1]+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`mxwatch_stage_events_total{drop="false",name="stored_session",stage="sink"} %d`, want.totals["sessions"]),
		fmt.Sprintf(`mxwatch_stage_events_total{drop="false",name="stored_dns",stage="sink"} %d`, want.totals["dns_answers"]),
		`mxwatch_stage_events_total{drop="true",name="dead_lettered",stage="sink"} 0`,
		"mxwatch_sink_lag_messages 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if resp, err := http.Get("http://" + m[1] + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("readyz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code := r.stop(t); code != exitOK {
		t.Fatalf("sink exit %d on shutdown; log:\n%s", code, r.stderr.String())
	}
	log := r.stderr.String()
	for _, s := range []string{"sink started", "sink stopped", "dead_lettered=0"} {
		if !strings.Contains(log, s) {
			t.Errorf("sink log lacks %q:\n%s", s, log)
		}
	}
	p.check(want)
	// Every event was stored exactly once: nothing re-delivered, so even
	// without FINAL the counts match.
	if n := p.query("SELECT count() FROM " + p.db + ".sessions")[0][0]; n != fmt.Sprint(want.totals["sessions"]) {
		t.Errorf("sessions without FINAL: %s, want %d", n, want.totals["sessions"])
	}

	// A second sink of the same group finds nothing new: offsets were
	// committed.
	r2 := p.startSink()
	time.Sleep(2 * time.Second)
	if code := r2.stop(t); code != exitOK || !strings.Contains(r2.stderr.String(), "stored=0") {
		t.Errorf("second sink: exit %d, log:\n%s", code, r2.stderr.String())
	}
	p.check(want)
}

// TestSinkClickHouseRestart: ClickHouse stops while events keep coming and
// starts again; the sink retries the batch in hand, nothing is lost and
// nothing counts twice.
func TestSinkClickHouseRestart(t *testing.T) {
	p := newPipeline(t)
	r := p.startSink()
	want := p.analyze("classes", "../../testdata/classes.pcap")
	p.waitStored(want, r)

	p.ch.Stop()
	want.add(p.analyze("mix", mixCapture(t, 8<<20, 2)))
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(r.stderr.String(), "insert failed, retrying") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed insert while ClickHouse was down; log:\n%s", r.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.ch.Restart()
	p.waitStored(want, r)
	if code := r.stop(t); code != exitOK {
		t.Fatalf("sink exit %d; log:\n%s", code, r.stderr.String())
	}
	if !strings.Contains(r.stderr.String(), "insert succeeded after retries") {
		t.Errorf("sink log does not show the retried insert:\n%s", r.stderr.String())
	}
	p.check(want)
}

// TestSinkKilledMidBatch: a sink process is killed with SIGKILL after it
// stored a batch and before it committed it; the next sink stores the
// batch again, and the counts stay exact.
func TestSinkKilledMidBatch(t *testing.T) {
	p := newPipeline(t)
	want := p.analyze("mix", mixCapture(t, 8<<20, 3))
	want.add(p.analyze("classes", "../../testdata/classes.pcap"))

	marker := filepath.Join(t.TempDir(), "blocked")
	cmd, helperLog := sinkProcess(t, []string{helperEnv + "=" + marker}, "--config", "/dev/null", "--kafka", strings.Join(p.brokers, ","))
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the sink never blocked before a commit; log:\n%s", helperLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := p.stored().totals
	err := cmd.Process.Signal(syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, not SIGKILL", err)
	}
	var n uint64
	for _, v := range before {
		n += v
	}
	if n == 0 || maps.Equal(before, want.totals) {
		t.Fatalf("kill did not land mid-stream: stored %v of %v", before, want.totals)
	}
	t.Logf("killed after storing %v (batch %d stored, not committed)", before, helperBatch)

	// The restarted sink joins the group once the killed member's session
	// has timed out (30 s), then reads from the last committed offsets.
	r := p.startSink()
	p.waitStored(want, r)
	if code := r.stop(t); code != exitOK {
		t.Fatalf("sink exit %d; log:\n%s", code, r.stderr.String())
	}
	p.check(want)
	// The batch stored before the kill was delivered and stored again:
	// what the second sink stored plus what was there before exceeds the
	// number of distinct events.
	events := func(m map[string]uint64) uint64 {
		return m["sessions"] + m["messages"] + m["dns_answers"] + m["findings"] + m["alerts"]
	}
	again := logField(r.stderr.String(), "sink stopped", "stored")
	t.Logf("after the restart the sink stored %d events; %d were there before; %d distinct", again, events(before), events(want.totals))
	if again+events(before) <= events(want.totals) {
		t.Errorf("second sink stored %d, %d were there before, %d distinct: no re-delivery seen", again, events(before), events(want.totals))
	}
}

// logField returns the number in field=N of the last log line with
// msg="what".
func logField(log, what, field string) uint64 {
	var n uint64
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="`+what+`"`) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, field+"="); ok {
				n, _ = strconv.ParseUint(v, 10, 64)
			}
		}
	}
	return n
}

// TestSinkSIGTERM: a sink process holding a batch that is not full gets
// SIGTERM; it stores and commits the batch and exits 0. Its brokers come
// from the environment (MXWATCH_KAFKA_BROKERS).
func TestSinkSIGTERM(t *testing.T) {
	p := newPipeline(t)
	want := p.analyze("classes", "../../testdata/classes.pcap")
	n := want.totals["sessions"] + want.totals["messages"] + want.totals["dns_answers"] + want.totals["findings"] + want.totals["alerts"]
	cmd, log := sinkProcess(t, []string{
		"MXWATCH_KAFKA_BROKERS=" + strings.Join(p.brokers, ","),
		"MXWATCH_SINK_BATCH_SIZE=100000", "MXWATCH_SINK_BATCH_TIMEOUT=1h", "MXWATCH_SINK_STATS_INTERVAL=100ms",
	}, "--config", "/dev/null")
	fetched := fmt.Sprintf("fetched=%d stored=0", n)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(log.String(), fetched) {
		if time.Now().After(deadline) {
			t.Fatalf("the sink never held all %d events in one batch; log:\n%s", n, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := p.stored().totals["sessions"]; got != 0 {
		t.Fatalf("%d sessions stored before the batch was full or timed out", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sink after SIGTERM: %v; log:\n%s", err, log.String())
	}
	p.check(want)
	// The offsets were committed: the next sink of the group stores nothing.
	r := p.startSink()
	time.Sleep(2 * time.Second)
	if code := r.stop(t); code != exitOK || !strings.Contains(r.stderr.String(), "stored=0") {
		t.Errorf("next sink: exit %d, log:\n%s", code, r.stderr.String())
	}
}

// TestSinkPoison: undecodable messages and events of another schema
// version go to the dead-letter topic with their origin; the partition
// goes on and the events after them are stored.
func TestSinkPoison(t *testing.T) {
	p := newPipeline(t)
	want := p.analyze("classes", "../../testdata/classes.pcap")
	// Poison on every partition of the dns topic, after the real events.
	w := &kafkago.Writer{Addr: kafkago.TCP(p.brokers...), Topic: "mxwatch.dns", Balancer: &kafkago.RoundRobin{}, BatchTimeout: time.Millisecond, RequiredAcks: kafkago.RequireAll}
	poison := []kafkago.Message{
		{Key: []byte("10.20.9.9"), Value: []byte("{not json")},
		{Key: []byte("10.20.9.9"), Value: []byte(`{"kind":"dns","v":99,"id":"future"}`)},
		{Key: []byte("10.20.9.9"), Value: []byte(`{"kind":"packet","v":1}`)},
	}
	if err := w.WriteMessages(context.Background(), poison...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Then more real events behind the poison.
	want.add(p.analyze("mix", mixCapture(t, 4<<20, 4)))

	r := p.startSink()
	p.waitStored(want, r)
	if code := r.stop(t); code != exitOK {
		t.Fatalf("sink exit %d; log:\n%s", code, r.stderr.String())
	}
	if !strings.Contains(r.stderr.String(), "dead_lettered=3") {
		t.Errorf("sink log does not count 3 dead letters:\n%s", r.stderr.String())
	}
	p.check(want)

	rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: p.brokers, GroupID: "dlq-check", Topic: "mxwatch.deadletter", MaxWait: 50 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	for range poison {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("dead-letter topic: %v (got %v)", err, got)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["mxwatch-topic"] != "mxwatch.dns" || h["mxwatch-offset"] == "" || h["mxwatch-error"] == "" {
			t.Errorf("dead letter %s lacks its origin: %v", m.Value, h)
		}
		got = append(got, string(m.Value)+" <- "+h["mxwatch-error"])
	}
	slices.Sort(got)
	for i, want := range []string{"unknown event kind", "undecodable event", "unsupported schema version"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("dead letters %d: none says %q: %v", i, want, got)
		}
	}
}

// TestSinkConfigErrors: a sink without brokers or with a bad setting says
// what to fix and exits 2.
func TestSinkConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no brokers", nil, nil, "no Kafka brokers"},
		{"negative batch", map[string]string{"MXWATCH_SINK_BATCH_SIZE": "-1"}, []string{"--kafka", "127.0.0.1:1"}, "must not be negative"},
		{"dead letter clash", map[string]string{"MXWATCH_SINK_DEAD_LETTER_TOPIC": "mxwatch.dns"}, []string{"--kafka", "127.0.0.1:1"}, "dead-letter topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, errs := mxwatch(t, append([]string{"sink", "--config", "/dev/null"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, exitUsage, tc.want)
			}
		})
	}
}
