package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func open(t *testing.T, s *chtest.Server) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.Addr}, ReadTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func count(t *testing.T, conn driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// goldenEvents decodes the capture golden files (sessions, messages, dns).
// Several captures share event ids (the same synthetic flow in different
// encapsulations); only the first event of each id is kept.
func goldenEvents(t *testing.T) []event.Event {
	seen := map[string]bool{}
	t.Helper()
	files, err := filepath.Glob("../../capture/testdata/golden/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	var evs []event.Event
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var k struct{ Kind event.Kind }
			if err := json.Unmarshal(sc.Bytes(), &k); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var ev event.Event
			switch k.Kind {
			case event.KindSession:
				ev = &event.Session{}
			case event.KindMessage:
				ev = &event.Message{}
			case event.KindDNS:
				ev = &event.DNS{}
			default:
				continue
			}
			if err := json.Unmarshal(sc.Bytes(), ev); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			key := string(k.Kind) + "/" + idOf(ev)
			if seen[key] {
				continue
			}
			seen[key] = true
			evs = append(evs, ev)
		}
	}
	return evs
}

func idOf(ev event.Event) string {
	switch e := ev.(type) {
	case *event.Session:
		return e.ID
	case *event.Message:
		return e.ID
	case *event.DNS:
		return e.ID
	}
	return ""
}

var (
	hour0 = time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)
	host  = netip.MustParseAddr("10.20.1.5")
)

func finding(id string, client netip.Addr, at time.Time, class event.Class, group string, msgs, rejected int) *event.Finding {
	f := &event.Finding{
		Kind: event.KindFinding, Version: event.SchemaVersion, ID: id, Sensor: "t",
		Start: at, End: at.Add(time.Second),
		Client: netip.AddrPortFrom(client, 40000), Server: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.25"), 25),
		Class: class, Confidence: event.ConfidenceHigh, Group: group, Sensitive: group == "gmail",
		Messages: msgs, Rejected: rejected, Accepted: msgs - rejected, Recipients: msgs,
		RecipientDomains: []string{"example.net"}, Scripts: []string{"php:/home/u/x.php"},
	}
	if class == event.ClassDirectToMX {
		f.Pairing = &event.Pairing{By: "self", Domain: "example.net", MXHost: "mx.example.net", MXPref: 10,
			LookupTime: at.Add(-time.Second), Delay: time.Second, Via: "additional"}
	}
	if rejected > 0 {
		f.Blocklist = []event.BlocklistHit{{Signature: "spamhaus-zen", List: "spamhaus-zen", Type: "blocklist",
			Reason: "listed", Code: 554, Enhanced: "5.7.1", Command: "EOD", Text: "blocked using zen.spamhaus.org", Time: at}}
	}
	return f
}

func TestMigrateInsertQuery(t *testing.T) {
	s := chtest.Start(t)
	t.Logf("server %s", s.Version)
	cfg := Config{Addr: s.Addr, User: "default", Database: "mx", RetentionDays: 30}
	conn, err := Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := t.Context()

	applied, err := Migrate(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0001_events.sql", "0002_hourly.sql", "0003_delay_us.sql"}; strings.Join(applied, ",") != strings.Join(want, ",") {
		t.Fatalf("applied %v, want %v", applied, want)
	}
	again, err := Migrate(ctx, conn, cfg)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate: applied %v, err %v", again, err)
	}
	if n := count(t, conn, "SELECT count() FROM mx.schema_migrations"); n != 3 {
		t.Fatalf("schema_migrations rows = %d, want 3", n)
	}
	for _, tbl := range []string{"sessions", "messages", "dns_answers", "findings", "alerts",
		"hourly_by_source", "hourly_by_group", "hourly_by_source_mv", "hourly_by_group_mv"} {
		if n := count(t, conn, "SELECT count() FROM system.tables WHERE database = 'mx' AND name = '"+tbl+"'"); n != 1 {
			t.Errorf("table %s missing", tbl)
		}
	}

	evs := goldenEvents(t)
	want := map[event.Kind]uint64{}
	for _, e := range evs {
		want[e.EventKind()]++
	}
	other := netip.MustParseAddr("10.20.1.6")
	findings := []*event.Finding{
		finding("f1", host, hour0.Add(5*time.Minute), event.ClassDirectToMX, "gmail", 3, 1),
		finding("f2", host, hour0.Add(10*time.Minute), event.ClassDirectToMX, "gmail", 2, 2),
		finding("f3", host, hour0.Add(20*time.Minute), event.ClassRelay, "other", 1, 0),
		finding("f4", other, hour0.Add(30*time.Minute), event.ClassDirectToMX, "gmail", 0, 0),
		finding("f5", host, hour0.Add(70*time.Minute), event.ClassDirectToMX, "gmail", 4, 0),
	}
	for _, f := range findings {
		evs = append(evs, f)
	}
	evs = append(evs, &event.Alert{Kind: event.KindAlert, Version: event.SchemaVersion, ID: "a1", Rule: "spike",
		Scope: "host", Source: host.String(), Host: host, Group: "gmail", Metric: "messages",
		WindowStart: hour0, Time: hour0.Add(time.Hour), Window: time.Hour, Observed: 9, Baseline: 1, Threshold: 5,
		Severity: event.SeverityCritical, Summary: "spike", TopDomains: []string{"gmail.com"}})
	want[event.KindFinding], want[event.KindAlert] = uint64(len(findings)), 1
	if want[event.KindSession] == 0 || want[event.KindMessage] == 0 || want[event.KindDNS] == 0 {
		t.Fatalf("golden files lack a kind: %v", want)
	}

	w := NewWriter(conn, cfg)
	for round := 1; round <= 2; round++ { // the second round is a re-delivery
		if err := w.Insert(ctx, evs); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	st := w.Stats()
	if st.Rows["findings"] != 2*uint64(len(findings)) || st.FailedBatches != 0 || st.Batches != 10 {
		t.Errorf("writer stats %+v", st)
	}
	tables := []struct {
		name  string
		table string
		kind  event.Kind
	}{
		{name: "sessions", table: "sessions", kind: event.KindSession},
		{name: "messages", table: "messages", kind: event.KindMessage},
		{name: "dns", table: "dns_answers", kind: event.KindDNS},
		{name: "findings", table: "findings", kind: event.KindFinding},
		{name: "alerts", table: "alerts", kind: event.KindAlert},
	}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) {
			if n := count(t, conn, "SELECT count() FROM mx."+tc.table); n != 2*want[tc.kind] {
				t.Errorf("raw rows = %d, want %d (two deliveries)", n, 2*want[tc.kind])
			}
			if n := count(t, conn, "SELECT uniqExact(id) FROM mx."+tc.table); n != want[tc.kind] {
				t.Errorf("uniqExact(id) = %d, want %d", n, want[tc.kind])
			}
			if n := count(t, conn, "SELECT count() FROM mx."+tc.table+" FINAL"); n != want[tc.kind] {
				t.Errorf("FINAL count = %d, want %d", n, want[tc.kind])
			}
		})
	}

	// Field round trips: every message as inserted, a finding by hand.
	var checked int
	for _, ev := range evs {
		m, ok := ev.(*event.Message)
		if !ok {
			continue
		}
		checked++
		checkMessage(t, conn, m)
	}
	if checked == 0 {
		t.Fatal("no messages checked")
	}
	var client, class, mx string
	var bl []string
	if err := conn.QueryRow(ctx, `SELECT toString(client), class, pair_mx_host, bl_lists FROM mx.findings FINAL WHERE id = 'f1'`).
		Scan(&client, &class, &mx, &bl); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(client, "10.20.1.5") || class != "direct-to-mx" || mx != "mx.example.net" || fmt.Sprint(bl) != "[spamhaus-zen]" {
		t.Errorf("finding row: %q %q %q %v", client, class, mx, bl)
	}

	// Hourly aggregates count each id once although every finding came twice.
	hourly := []struct {
		name                                  string
		query                                 string
		findings, messages, rejections, extra uint64
	}{
		{name: "source host 09:00 direct", query: `SELECT uniqExactMerge(findings), uniqExactArrayMerge(messages), uniqExactArrayMerge(rejections), toUInt64(0)
			FROM mx.hourly_by_source WHERE toString(client) LIKE '%10.20.1.5' AND class = 'direct-to-mx' AND hour = toDateTime('2024-05-14 09:00:00')`,
			findings: 2, messages: 5, rejections: 3},
		{name: "source host 10:00 direct", query: `SELECT uniqExactMerge(findings), uniqExactArrayMerge(messages), uniqExactArrayMerge(rejections), toUInt64(0)
			FROM mx.hourly_by_source WHERE toString(client) LIKE '%10.20.1.5' AND class = 'direct-to-mx' AND hour = toDateTime('2024-05-14 10:00:00')`,
			findings: 1, messages: 4, rejections: 0},
		{name: "group gmail 09:00", query: `SELECT uniqExactMerge(findings), uniqExactArrayMerge(messages), uniqExactArrayMerge(rejections), uniqExactMerge(sources)
			FROM mx.hourly_by_group WHERE dest_group = 'gmail' AND hour = toDateTime('2024-05-14 09:00:00')`,
			findings: 3, messages: 5, rejections: 3, extra: 2},
		{name: "group other 09:00", query: `SELECT uniqExactMerge(findings), uniqExactArrayMerge(messages), uniqExactArrayMerge(rejections), uniqExactMerge(sources)
			FROM mx.hourly_by_group WHERE dest_group = 'other' AND hour = toDateTime('2024-05-14 09:00:00')`,
			findings: 1, messages: 1, rejections: 0, extra: 1},
	}
	for _, tc := range hourly {
		t.Run(tc.name, func(t *testing.T) {
			var f, m, r, x uint64
			if err := conn.QueryRow(ctx, tc.query).Scan(&f, &m, &r, &x); err != nil {
				t.Fatal(err)
			}
			if f != tc.findings || m != tc.messages || r != tc.rejections || x != tc.extra {
				t.Errorf("got findings %d messages %d rejections %d extra %d, want %d %d %d %d",
					f, m, r, x, tc.findings, tc.messages, tc.rejections, tc.extra)
			}
		})
	}
}

func TestMigrateFailureNamesFile(t *testing.T) {
	s := chtest.Start(t)
	conn := open(t, s)
	ctx := t.Context()
	// A table in the way with an incompatible definition makes the MV fail.
	for _, q := range []string{"CREATE DATABASE bad", "CREATE TABLE bad.findings (x UInt8) ENGINE = MergeTree ORDER BY x"} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	applied, err := Migrate(ctx, conn, Config{Database: "bad"})
	if err == nil {
		t.Fatal("migrate succeeded over an incompatible table")
	}
	if !strings.Contains(err.Error(), "0002_hourly.sql statement 2") {
		t.Errorf("error does not name file and statement: %v", err)
	}
	if len(applied) != 1 {
		t.Errorf("applied %v, want only 0001", applied)
	}
}

func checkMessage(t *testing.T, conn driver.Conn, m *event.Message) {
	t.Helper()
	var from, text, outcome, session string
	var codes []uint16
	var size int64
	if err := conn.QueryRow(context.Background(), `SELECT mail_from, rcpt_codes, final_text, outcome, session, size
		FROM mx.messages FINAL WHERE id = ?`, m.ID).Scan(&from, &codes, &text, &outcome, &session, &size); err != nil {
		t.Fatalf("message %s: %v", m.ID, err)
	}
	var wantCodes []uint16
	for _, r := range m.Recipients {
		wantCodes = append(wantCodes, uint16(r.Code))
	}
	wantText := ""
	if m.Final != nil {
		wantText = m.Final.Text
	}
	if from != m.MailFrom || fmt.Sprint(codes) != fmt.Sprint(wantCodes) || text != wantText ||
		outcome != m.Outcome || session != m.Session || size != m.Size {
		t.Errorf("message %s: got %q %v %q %q %q %d", m.ID, from, codes, text, outcome, session, size)
	}
}
