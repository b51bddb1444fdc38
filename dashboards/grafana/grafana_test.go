package grafana

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	from = time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)
	to   = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
)

func testVars() Vars {
	return Vars{From: from, To: to, IntervalS: 60, Values: map[string][]string{
		"source":     {"10.20.1.5"},
		"customer":   {"lindenhof-gmbh"},
		"all":        {"$__all"},
		"multi":      {"a", "b'c"},
		"block_date": {"2024-05-14 09:30:05"},
	}}
}

func TestGrafanaExpand(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		want    string
		wantErr error
	}{
		{name: "timeFilter", sql: "WHERE $__timeFilter(start)", want: "WHERE start >= toDateTime(1715677200) AND start <= toDateTime(1715680800)"},
		{name: "timeFilter_ms", sql: "$__timeFilter_ms(t)", want: "t >= toDateTime(1715677200) AND t <= toDateTime(1715680800)"},
		{name: "from and to", sql: "$__fromTime,$__toTime,$__fromTime_ms,$__toTime_ms", want: "toDateTime(1715677200),toDateTime(1715680800),toDateTime(1715677200),toDateTime(1715680800)"},
		{name: "interval", sql: "intDiv(x, $__interval_s)", want: "intDiv(x, 60)"},
		{name: "timeInterval", sql: "$__timeInterval(start)", want: "toDateTime(intDiv(toUInt32(start), 60) * 60)"},
		{name: "timeInterval_ms nested call", sql: "$__timeInterval_ms(toDateTime(x, 'UTC'))", want: "toDateTime(intDiv(toUInt32(toDateTime(x, 'UTC')), 60) * 60)"},
		{name: "dateFilter", sql: "$__dateFilter(d)", want: "d >= toDate('2024-05-14') AND d <= toDate('2024-05-14')"},
		{name: "dateTimeFilter", sql: "$__dateTimeFilter(d, t)", want: "(d >= toDate('2024-05-14') AND d <= toDate('2024-05-14')) AND (t >= toDateTime(1715677200) AND t <= toDateTime(1715680800))"},
		{name: "conditionalAll set", sql: "$__conditionalAll(customer = '${customer}', $customer)", want: "customer = 'lindenhof-gmbh'"},
		{name: "conditionalAll all", sql: "$__conditionalAll(customer = '${all}', $all)", want: "1=1"},
		{name: "conditionalAll comma in quotes", sql: "$__conditionalAll(c IN ('x,y', '$source'), ${customer})", want: "c IN ('x,y', '10.20.1.5')"},
		{name: "variable forms", sql: "'$source' ${source} ${customer:singlequote}", want: "'10.20.1.5' 10.20.1.5 'lindenhof-gmbh'"},
		{name: "multi value", sql: "x IN ($multi) OR y IN (${multi:singlequote}) OR z = '${multi:csv}'", want: `x IN ('a','b\'c') OR y IN ('a','b\'c') OR z = 'a,b\'c'`},
		{name: "textbox", sql: "toDateTime('${block_date}')", want: "toDateTime('2024-05-14 09:30:05')"},
		{name: "lone dollar", sql: "SELECT '$' , '$1'", want: "SELECT '$' , '$1'"},
		{name: "no macros", sql: "SELECT 1", want: "SELECT 1"},
		{name: "unknown macro", sql: "$__timeGroup(start, '1m')", wantErr: ErrUnknownMacro},
		{name: "unknown value macro", sql: "$__unixEpochFrom", wantErr: ErrUnknownMacro},
		{name: "unknown variable", sql: "host = '$nosuch'", wantErr: ErrUnknownVariable},
		{name: "conditionalAll unknown variable", sql: "$__conditionalAll(1, $nosuch)", wantErr: ErrUnknownVariable},
		{name: "unbalanced", sql: "$__timeFilter(start", wantErr: ErrSyntax},
		{name: "wrong arity", sql: "$__timeFilter(a, b)", wantErr: ErrSyntax},
		{name: "empty argument", sql: "$__timeFilter()", wantErr: ErrSyntax},
		{name: "unterminated brace", sql: "${source", wantErr: ErrSyntax},
		{name: "bad format", sql: "${source:percentencode}", wantErr: ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(tc.sql, testVars())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Expand(%q) error %v, want %v", tc.sql, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand(%q): %v", tc.sql, err)
			}
			if got != tc.want {
				t.Errorf("Expand(%q)\n got %s\nwant %s", tc.sql, got, tc.want)
			}
		})
	}
}

func TestGrafanaExpandNamesUnknownMacro(t *testing.T) {
	_, err := Expand("SELECT $__timeGroup(start, '1m')", testVars())
	if err == nil || !strings.Contains(err.Error(), "$__timeGroup") {
		t.Fatalf("error %v does not name the macro", err)
	}
}

func validDashboard() Dashboard {
	ds := &DatasourceRef{Type: "grafana-clickhouse-datasource", UID: "mxwatch-clickhouse"}
	return Dashboard{UID: "x", SchemaVersion: 39,
		Panels: []Panel{
			{ID: 1, Type: "row", Title: "row", GridPos: &GridPos{H: 1, W: 24}},
			{ID: 2, Type: "table", Title: "a", GridPos: &GridPos{H: 8, W: 12}, Datasource: ds, Targets: []Target{{RefID: "A", RawSQL: "SELECT 1", Datasource: ds}}},
		},
		Variables:   []Variable{{Name: "v", Type: "query", Datasource: ds, Query: "SELECT 1"}, {Name: "t", Type: "textbox"}},
		Annotations: []Annotation{{Name: "builtin", BuiltIn: 1}, {Name: "alerts", Datasource: ds, Target: &Target{RawSQL: "SELECT 1"}}},
	}
}

func TestGrafanaValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Dashboard)
		want   string // substring of the error; "" for none
	}{
		{name: "valid", modify: func(*Dashboard) {}},
		{name: "old schema", modify: func(d *Dashboard) { d.SchemaVersion = 38 }, want: "schemaVersion 38"},
		{name: "no uid", modify: func(d *Dashboard) { d.UID = "" }, want: "no uid"},
		{name: "duplicate id", modify: func(d *Dashboard) { d.Panels[1].ID = 1 }, want: "id also used"},
		{name: "zero id", modify: func(d *Dashboard) { d.Panels[1].ID = 0 }, want: "id 0"},
		{name: "wrong panel uid", modify: func(d *Dashboard) { d.Panels[1].Datasource = &DatasourceRef{UID: "other"} }, want: `datasource uid "other"`},
		{name: "wrong target uid", modify: func(d *Dashboard) { d.Panels[1].Targets[0].Datasource = &DatasourceRef{UID: "other"} }, want: "target A: datasource uid"},
		{name: "no panel datasource", modify: func(d *Dashboard) { d.Panels[1].Datasource = nil }, want: "no datasource"},
		{name: "wrong variable uid", modify: func(d *Dashboard) { d.Variables[0].Datasource = &DatasourceRef{UID: "x"} }, want: "variable v"},
		{name: "wrong annotation uid", modify: func(d *Dashboard) { d.Annotations[1].Datasource = nil }, want: "annotation alerts"},
		{name: "no gridPos", modify: func(d *Dashboard) { d.Panels[1].GridPos = nil }, want: "no gridPos"},
		{name: "no targets", modify: func(d *Dashboard) { d.Panels[1].Targets = nil }, want: "no targets"},
		{name: "empty sql", modify: func(d *Dashboard) { d.Panels[1].Targets[0].RawSQL = " " }, want: "no rawSql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := validDashboard()
			tc.modify(&d)
			err := Validate(d, "mxwatch-clickhouse")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGrafanaEmbeddedDashboards(t *testing.T) {
	uid, err := DatasourceUID()
	if err != nil {
		t.Fatal(err)
	}
	if uid != "mxwatch-clickhouse" {
		t.Fatalf("data source uid %q", uid)
	}
	ds, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	wantUIDs := map[string]bool{"mxwatch-overview": true, "mxwatch-source": true, "mxwatch-enforcement": true, "mxwatch-impact": true}
	// The plugin expands $__timeInterval to toStartOfInterval and the _ms
	// macros to DateTime64 functions, which ClickHouse 18.16 lacks.
	unsupported := regexp.MustCompile(`\$__timeInterval|\$__\w+_ms\b|toStartOfInterval|DateTime64|ILIKE|OVER\s*\(`)
	for _, d := range ds {
		delete(wantUIDs, d.UID)
		if err := Validate(d, uid); err != nil {
			t.Errorf("%s: %v", d.File, err)
		}
		qs := d.Queries()
		if len(qs) == 0 {
			t.Errorf("%s: no queries", d.File)
		}
		for _, q := range qs {
			if m := unsupported.FindString(q.SQL); m != "" {
				t.Errorf("%s %s: uses %q", d.File, q.Where, m)
			}
			if q.Format != "table" && q.Format != "time_series" {
				t.Errorf("%s %s: format %q", d.File, q.Where, q.Format)
			}
			if _, err := Expand(q.SQL, testVars()); err != nil {
				t.Errorf("%s %s: %v", d.File, q.Where, err)
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.QueryType != "sql" || tg.EditorType != "sql" {
					t.Errorf("%s panel %d: queryType %q editorType %q", d.File, p.ID, tg.QueryType, tg.EditorType)
				}
			}
		}
	}
	for u := range wantUIDs {
		t.Errorf("no dashboard %s", u)
	}
}

func TestGrafanaAlertRules(t *testing.T) {
	rules, err := AlertRules()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"mxwatch-direct-mx-spike": true, "mxwatch-blocklist-rejections": true, "mxwatch-dnsbl-listing": true}
	for _, r := range rules {
		delete(want, r.UID)
		if r.Condition != "C" || len(r.Expressions) != 2 || r.RefID != "A" || r.Labels["severity"] == "" ||
			r.Annotations["summary"] == "" || r.Annotations["description"] == "" || r.Format != "table" {
			t.Errorf("rule %s incomplete: %+v", r.UID, r)
		}
		if _, err := Expand(r.SQL, testVars()); err != nil {
			t.Errorf("rule %s: %v", r.UID, err)
		}
	}
	for u := range want {
		t.Errorf("no rule %s", u)
	}
}

func TestGrafanaParseDashboardForms(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		wantQuery string
		wantPanel int
		wantErr   bool
	}{
		{name: "string variable", json: `{"templating":{"list":[{"name":"v","type":"query","query":"SELECT 1"}]}}`, wantQuery: "SELECT 1"},
		{name: "object variable", json: `{"templating":{"list":[{"name":"v","type":"query","query":{"rawSql":"SELECT 2"}}]}}`, wantQuery: "SELECT 2"},
		{name: "collapsed row", json: `{"panels":[{"id":1,"type":"row","panels":[{"id":2},{"id":3}]}]}`, wantPanel: 3},
		{name: "bad json", json: `{"panels":`, wantErr: true},
		{name: "bad variable", json: `{"templating":{"list":[{"name":"v","query":[1]}]}}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDashboard([]byte(tc.json))
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantQuery != "" && (len(d.Variables) != 1 || d.Variables[0].Query != tc.wantQuery) {
				t.Errorf("variables %+v", d.Variables)
			}
			if len(d.Panels) != tc.wantPanel {
				t.Errorf("%d panels, want %d", len(d.Panels), tc.wantPanel)
			}
		})
	}
}

func TestGrafanaFormatName(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{name: "time series", raw: "0", want: "time_series"},
		{name: "table", raw: "1", want: "table"},
		{name: "string", raw: `"table"`, want: "table"},
		{name: "other number", raw: "9", want: "9"},
		{name: "absent", raw: "", want: ""},
		{name: "object", raw: "{}", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatName(json.RawMessage(tc.raw)); got != tc.want {
				t.Errorf("FormatName(%s) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$__timeFilter(start)", "$__conditionalAll(a = '$source', $customer)", "${source:singlequote}",
		"$__timeInterval(f(g(x), 'a,b'))", "$__dateTimeFilter(d, t)", "$", "${", "$__(", "$__conditionalAll($__conditionalAll(1, $all), $all)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out, err := Expand(sql, testVars())
		if err == nil && !strings.Contains(sql, "$") && out != sql {
			t.Fatalf("Expand changed SQL without $: %q -> %q", sql, out)
		}
	})
}

func FuzzParseDashboard(f *testing.F) {
	for _, s := range []string{`{}`, `{"panels":[{"id":1,"panels":[{"id":2}]}]}`, `{"templating":{"list":[{"query":{"rawSql":"x"}}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDashboard(data)
		if err != nil {
			return
		}
		_ = d.Queries()
		_ = Validate(d, "u")
	})
}
