// Package grafana owns mxwatch's Grafana assets for the ClickHouse sink:
// the provisioning files (data source, dashboard provider, alert rules,
// contact point), the dashboard JSON, and the Go view of them that tests
// and `mxwatch` users need: parsed dashboards with every SQL query,
// structural validation, and an expander for the ClickHouse plugin's
// macros and Grafana's template variables that produces SQL ClickHouse
// 18.16 accepts, so that a panel's query can be run by hand.
package grafana

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed dashboards/*.json provisioning
var files embed.FS

// Paths inside the embedded file system.
const (
	dashboardDir   = "dashboards"
	datasourceFile = "provisioning/datasources/clickhouse.yaml"
	alertRulesFile = "provisioning/alerting/mxwatch.yaml"
)

// MinSchemaVersion is the oldest dashboard schema Validate accepts.
const MinSchemaVersion = 39

// Errors returned by this package.
var (
	// ErrInvalid: a dashboard breaks a structural rule (see Validate).
	ErrInvalid = errors.New("invalid dashboard")
	// ErrUnknownMacro: Expand met a $__macro it does not implement.
	ErrUnknownMacro = errors.New("unknown macro")
	// ErrUnknownVariable: Expand met a template variable without a value.
	ErrUnknownVariable = errors.New("unknown template variable")
	// ErrSyntax: a macro call or variable reference is malformed
	// (unbalanced parentheses, wrong number of arguments, bad format).
	ErrSyntax = errors.New("malformed macro")
	// ErrNoDatasource: the provisioning file names no data source uid.
	ErrNoDatasource = errors.New("no data source in provisioning file")
)

// DatasourceRef is a panel's or target's "datasource" object.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// GridPos is a panel's position on the dashboard grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one query of a panel or annotation.
type Target struct {
	RefID      string         `json:"refId"`
	RawSQL     string         `json:"rawSql"`
	QueryType  string         `json:"queryType"`
	EditorType string         `json:"editorType"`
	Datasource *DatasourceRef `json:"datasource"`
	// Format is the plugin's result format: 0 time series, 1 table,
	// 2 logs, 3 trace, 4 auto (see FormatName).
	Format json.RawMessage `json:"format"`
}

// Panel is one dashboard panel; rows are panels of type "row".
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	GridPos     *GridPos       `json:"gridPos"`
	Datasource  *DatasourceRef `json:"datasource"`
	Targets     []Target       `json:"targets"`
	// Panels holds the children of a collapsed row; ParseDashboard
	// flattens them into Dashboard.Panels and leaves this nil.
	Panels []Panel `json:"panels"`
}

// Variable is a template variable.
type Variable struct {
	Name       string         `json:"name"`
	Label      string         `json:"label"`
	Type       string         `json:"type"`
	Datasource *DatasourceRef `json:"datasource"`
	IncludeAll bool           `json:"includeAll"`
	Multi      bool           `json:"multi"`
	// RawQuery is the "query" member as stored: a string, or an object
	// with rawSql.
	RawQuery json.RawMessage `json:"query"`
	// Query is the SQL of a "query" variable or the default value of a
	// "textbox" one, taken from RawQuery.
	Query string `json:"-"`
}

// Annotation is an entry of the dashboard's annotation list.
type Annotation struct {
	Name       string         `json:"name"`
	BuiltIn    int            `json:"builtIn"`
	Enable     bool           `json:"enable"`
	Datasource *DatasourceRef `json:"datasource"`
	Target     *Target        `json:"target"`
}

// Dashboard is a parsed dashboard file.
type Dashboard struct {
	// File is the file name inside dashboards/ ("" when parsed from
	// bytes).
	File          string
	UID           string
	Title         string
	Description   string
	SchemaVersion int
	// Panels lists every panel, rows included, in file order with a
	// collapsed row's children after it.
	Panels      []Panel
	Variables   []Variable
	Annotations []Annotation
}

// Query is one SQL text of a dashboard or alert rule.
type Query struct {
	// Where names the query's place, e.g. `panel 3 "Scripts"`,
	// `variable source`, `annotation mxwatch alerts`.
	Where string
	RefID string
	SQL   string
	// Format is "time_series", "table", "logs", "trace", "auto" or "".
	Format string
}

type dashboardJSON struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Description   string  `json:"description"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []Panel `json:"panels"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
}

// Dashboards parses every embedded dashboard, sorted by file name.
func Dashboards() ([]Dashboard, error) {
	names, err := fs.Glob(files, dashboardDir+"/*.json")
	if err != nil {
		return nil, fmt.Errorf("grafana: listing dashboards: %w", err)
	}
	slices.Sort(names)
	out := make([]Dashboard, 0, len(names))
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("grafana: %s: %w", name, err)
		}
		d, err := ParseDashboard(data)
		if err != nil {
			return nil, fmt.Errorf("grafana: %s: %w", name, err)
		}
		d.File = path.Base(name)
		out = append(out, d)
	}
	return out, nil
}

// ParseDashboard parses one dashboard JSON document.
func ParseDashboard(data []byte) (Dashboard, error) {
	var j dashboardJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Dashboard{}, fmt.Errorf("parsing dashboard: %w", err)
	}
	d := Dashboard{UID: j.UID, Title: j.Title, Description: j.Description, SchemaVersion: j.SchemaVersion,
		Annotations: j.Annotations.List}
	for _, p := range j.Panels {
		children := p.Panels
		p.Panels = nil
		d.Panels = append(d.Panels, p)
		for _, c := range children {
			c.Panels = nil // rows do not nest
			d.Panels = append(d.Panels, c)
		}
	}
	for _, v := range j.Templating.List {
		q, err := variableQuery(v.RawQuery)
		if err != nil {
			return Dashboard{}, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		v.Query = q
		d.Variables = append(d.Variables, v)
	}
	return d, nil
}

// variableQuery accepts a variable's query as a string or as an object
// with rawSql (both forms occur in exported dashboards).
func variableQuery(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		RawSQL string `json:"rawSql"`
		Query  string `json:"query"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	if o.RawSQL != "" {
		return o.RawSQL, nil
	}
	return o.Query, nil
}

// FormatName names a target's format value: numbers as the ClickHouse
// plugin stores them (0 time_series, 1 table, 2 logs, 3 trace, 4 auto),
// strings as other plugins do. Unknown numbers are returned as digits,
// anything else as "".
func FormatName(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return ""
	}
	switch n {
	case 0:
		return "time_series"
	case 1:
		return "table"
	case 2:
		return "logs"
	case 3:
		return "trace"
	case 4:
		return "auto"
	}
	return strconv.Itoa(n)
}

// Queries returns every panel target, query variable and annotation
// query of d.
func (d Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Where: fmt.Sprintf("panel %d %q", p.ID, p.Title), RefID: t.RefID, SQL: t.RawSQL, Format: FormatName(t.Format)})
		}
	}
	for _, v := range d.Variables {
		if v.Type == "query" {
			out = append(out, Query{Where: "variable " + v.Name, RefID: v.Name, SQL: v.Query, Format: "table"})
		}
	}
	for _, a := range d.Annotations {
		if a.Target != nil && a.Target.RawSQL != "" {
			out = append(out, Query{Where: "annotation " + a.Name, RefID: a.Target.RefID, SQL: a.Target.RawSQL, Format: FormatName(a.Target.Format)})
		}
	}
	return out
}

// Validate checks the rules mxwatch's dashboards follow: a uid,
// schemaVersion at least MinSchemaVersion, unique non-zero panel ids, a
// gridPos on every panel, every data source (panels, targets, query
// variables, annotations other than Grafana's built-in one) equal to
// datasourceUID, and targets with SQL on every panel that is not a row.
// The error joins every violation.
func Validate(d Dashboard, datasourceUID string) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w %s: %s", ErrInvalid, d.UID, fmt.Sprintf(format, args...)))
	}
	if d.UID == "" {
		bad("no uid")
	}
	if d.SchemaVersion < MinSchemaVersion {
		bad("schemaVersion %d < %d", d.SchemaVersion, MinSchemaVersion)
	}
	checkDS := func(where string, ds *DatasourceRef) {
		switch {
		case ds == nil:
			bad("%s: no datasource", where)
		case ds.UID != datasourceUID:
			bad("%s: datasource uid %q, want %q", where, ds.UID, datasourceUID)
		}
	}
	ids := map[int]string{}
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID == 0 {
			bad("%s: id 0", where)
		} else if other, dup := ids[p.ID]; dup {
			bad("%s: id also used by %q", where, other)
		} else {
			ids[p.ID] = p.Title
		}
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			bad("%s: no gridPos", where)
		}
		if p.Type == "row" {
			continue
		}
		checkDS(where, p.Datasource)
		if len(p.Targets) == 0 {
			bad("%s: no targets", where)
		}
		for _, t := range p.Targets {
			if strings.TrimSpace(t.RawSQL) == "" {
				bad("%s target %s: no rawSql", where, t.RefID)
			}
			if t.Datasource != nil {
				checkDS(where+" target "+t.RefID, t.Datasource)
			}
		}
	}
	for _, v := range d.Variables {
		if v.Type == "query" {
			checkDS("variable "+v.Name, v.Datasource)
		}
	}
	for _, a := range d.Annotations {
		if a.BuiltIn == 1 {
			continue
		}
		checkDS("annotation "+a.Name, a.Datasource)
	}
	return errors.Join(errs...)
}

// DatasourceUID returns the uid of the provisioned ClickHouse data source.
func DatasourceUID() (string, error) {
	data, err := files.ReadFile(datasourceFile)
	if err != nil {
		return "", fmt.Errorf("grafana: %w", err)
	}
	var p struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &p); err != nil {
		return "", fmt.Errorf("grafana: %s: %w", datasourceFile, err)
	}
	for _, ds := range p.Datasources {
		if ds.Type == "grafana-clickhouse-datasource" && ds.UID != "" {
			return ds.UID, nil
		}
	}
	return "", fmt.Errorf("grafana: %s: %w", datasourceFile, ErrNoDatasource)
}

// AlertRule is one provisioned Grafana alert rule with the SQL of its
// data source query.
type AlertRule struct {
	Group     string
	UID       string
	Title     string
	Condition string
	For       string
	// RefID, SQL and Format are those of the rule's data source query.
	RefID       string
	SQL         string
	Format      string
	Labels      map[string]string
	Annotations map[string]string
	// Expressions lists the refIds of the server-side expressions.
	Expressions []string
}

type alertingFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			UID       string `yaml:"uid"`
			Title     string `yaml:"title"`
			Condition string `yaml:"condition"`
			For       string `yaml:"for"`
			Data      []struct {
				RefID         string         `yaml:"refId"`
				DatasourceUID string         `yaml:"datasourceUid"`
				Model         map[string]any `yaml:"model"`
			} `yaml:"data"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// AlertRules parses the provisioned alert rules.
func AlertRules() ([]AlertRule, error) {
	data, err := files.ReadFile(alertRulesFile)
	if err != nil {
		return nil, fmt.Errorf("grafana: %w", err)
	}
	var f alertingFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("grafana: %s: %w", alertRulesFile, err)
	}
	var out []AlertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			a := AlertRule{Group: g.Name, UID: r.UID, Title: r.Title, Condition: r.Condition, For: r.For,
				Labels: r.Labels, Annotations: r.Annotations}
			for _, d := range r.Data {
				if d.DatasourceUID == "__expr__" {
					a.Expressions = append(a.Expressions, d.RefID)
					continue
				}
				sql, _ := d.Model["rawSql"].(string)
				if sql == "" {
					return nil, fmt.Errorf("grafana: rule %s: query %s has no rawSql", r.UID, d.RefID)
				}
				a.RefID, a.SQL = d.RefID, sql
				switch v := d.Model["format"].(type) {
				case int:
					a.Format = FormatName(json.RawMessage(strconv.Itoa(v)))
				case string:
					a.Format = v
				}
			}
			if a.SQL == "" {
				return nil, fmt.Errorf("grafana: rule %s: no data source query", r.UID)
			}
			out = append(out, a)
		}
	}
	return out, nil
}
