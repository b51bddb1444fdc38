package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/mxwatch/mxwatch/dashboards/grafana"
	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/clickhouse"
	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
)

// grafanaMustShow lists, per dashboard uid, the panels (and variables and
// annotations, by their Query.Where prefix) that must return rows on the
// generated data. Every query runs; only these must be non-empty.
var grafanaMustShow = map[string][]string{
	"mxwatch-overview": {
		`"Connections by class"`, `"Messages by class (hourly aggregate)"`, `"Direct-to-MX sources (last hour)"`,
		`"Top destination groups"`, `"Top destination domains"`, `"Blocklist rejections by list and provider group"`,
		`"Blocklist rejections over time"`, `"Alerts"`, "annotation mxwatch alerts",
	},
	"mxwatch-source": {
		`"Connections by class"`, `"Scripts"`, `"HELO names"`, `"Destination domains"`,
		`"MX lookup -> connect (paired findings)"`, `"Lookup -> connect delay"`, `"MX lookups of this source"`,
		`"Rejections"`, `"Alerts of this host"`, "variable source", "variable customer",
	},
	"mxwatch-enforcement": {
		`"Before / after the block date"`, `"Direct-to-MX volume"`, `"Blocked attempts (port 25 connects that never completed)"`,
		`"Sources still trying after the block date"`, `"Blocklist rejections before / after"`, `"DNSBL listings before / after"`,
	},
	"mxwatch-impact": {
		`"Affected hosts"`, `"Affected hosts by class"`, `"Affected hosts by customer"`, `"Affected hosts per hour (hourly aggregate)"`,
	},
}

// grafanaEvents analyzes capture as sensor with the real analyzer and
// decodes the events it wrote.
func grafanaEvents(t *testing.T, sensor, capture string) []event.Event {
	t.Helper()
	file := filepath.Join(t.TempDir(), sensor+".jsonl")
	code, _, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", "--sensor", sensor,
		"--format", "none", "--progress", "never", "--events", file, capture)
	if code != exitOK {
		t.Fatalf("analyze %s: exit %d: %s", sensor, code, errs)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, event.MaxEncodedSize+1)
	for sc.Scan() {
		ev, err := event.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", sensor, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// grafanaRows runs sql and returns how many rows it produced, scanning
// every column into a value of its scan type.
func grafanaRows(ctx context.Context, conn driver.Conn, sql string) (int, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		cols := rows.ColumnTypes()
		dest := make([]any, len(cols))
		for i, c := range cols {
			dest[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func TestGrafanaQueriesOnClickHouse(t *testing.T) {
	srv := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cfg := clickhouse.Config{Addr: srv.Addr, Database: "mxgraf"}
	conn, err := clickhouse.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := clickhouse.Migrate(ctx, conn, cfg); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	var events []event.Event
	events = append(events, grafanaEvents(t, "classes", scenarioCapture(t, "classes"))...)
	events = append(events, grafanaEvents(t, "rejections", scenarioCapture(t, "rejection-burst"))...)
	events = append(events, grafanaEvents(t, "mix", mixCapture(t, 8<<20, 1))...)
	listed := time.Date(2024, 5, 14, 9, 35, 0, 0, time.UTC)
	events = append(events, &event.Alert{Kind: event.KindAlert, Version: event.SchemaVersion, ID: "grafana-dnsbl-1",
		Sensor: "rbl", Rule: "dnsbl", Scope: "egress", Source: "203.0.113.10", Group: "zen.spamhaus.org",
		Metric: "listed", WindowStart: listed, Time: listed, Observed: 1, Threshold: 0,
		Severity: event.SeverityWarning, Summary: "egress 203.0.113.10 is listed on zen.spamhaus.org"})
	if err := clickhouse.NewWriter(conn, cfg).Insert(ctx, events); err != nil {
		t.Fatalf("insert %d events: %v", len(events), err)
	}

	// The dashboards rely on the data source's default database; this
	// connection plays that role.
	dash, err := chgo.Open(&chgo.Options{Addr: []string{srv.Addr}, Auth: chgo.Auth{Database: cfg.Database}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dash.Close() })

	// The scenarios start at pcapgen.DefaultStart (2024-05-14 09:30 UTC)
	// and last seconds; the block date splits the classes scenario.
	vars := grafana.Vars{
		From:      time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC),
		To:        time.Date(2024, 5, 14, 9, 40, 0, 0, time.UTC),
		IntervalS: 5,
		Values: map[string][]string{
			"source":     {"10.20.1.5"},
			"customer":   {"lindenhof-gmbh"},
			"block_date": {"2024-05-14 09:30:05"},
		},
	}
	uid, err := grafana.DatasourceUID()
	if err != nil {
		t.Fatal(err)
	}
	dashboards, err := grafana.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	if len(dashboards) != len(grafanaMustShow) {
		t.Errorf("%d dashboards, want %d", len(dashboards), len(grafanaMustShow))
	}
	run := func(what string, q grafana.Query) int {
		sql, err := grafana.Expand(q.SQL, vars)
		if err != nil {
			t.Errorf("%s %s: expand: %v", what, q.Where, err)
			return -1
		}
		n, err := grafanaRows(ctx, dash, sql)
		if err != nil {
			t.Errorf("%s %s: %v\n%s", what, q.Where, err, sql)
			return -1
		}
		t.Logf("%s %s: %d rows", what, q.Where, n)
		return n
	}
	queries := 0
	for _, d := range dashboards {
		if err := grafana.Validate(d, uid); err != nil {
			t.Errorf("%s: %v", d.File, err)
		}
		must := map[string]bool{}
		for _, w := range grafanaMustShow[d.UID] {
			must[w] = true
		}
		for _, q := range d.Queries() {
			queries++
			n := run(d.UID, q)
			for w := range must {
				if strings.HasSuffix(q.Where, w) || q.Where == w {
					delete(must, w)
					if n == 0 {
						t.Errorf("%s %s returned no rows on the test data", d.UID, q.Where)
					}
				}
			}
		}
		for w := range must {
			t.Errorf("%s: no query %s", d.UID, w)
		}
	}
	rules, err := grafana.AlertRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		queries++
		if n := run("alert rule", grafana.Query{Where: r.UID, SQL: r.SQL}); n == 0 {
			t.Errorf("alert rule %s returned no rows", r.UID)
		}
	}
	t.Logf("ran %d queries on ClickHouse %s (%d events)", queries, srv.Version, len(events))
}
