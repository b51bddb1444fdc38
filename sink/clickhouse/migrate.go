// Package clickhouse owns mxwatch's ClickHouse schema and the batch writer
// that stores events in it: versioned migrations embedded from
// migrations/, rendered for the server's version (and optionally ON
// CLUSTER), and one batch insert per table with explicit column lists.
//
// Deduplication: event tables are ReplacingMergeTree (Replicated... on a
// cluster) whose sorting key ends in the event's deterministic id. A
// re-delivered event is inserted again and collapses at merge time; until
// then queries must use FINAL or count uniqExact(id). The hourly aggregates
// count uniqExact ids too, so re-delivery does not inflate them.
package clickhouse

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Errors returned by this package.
var (
	// ErrBadVersion: a server version string could not be parsed.
	ErrBadVersion = errors.New("unparsable server version")
	// ErrBadConfig: the configuration is invalid.
	ErrBadConfig = errors.New("invalid clickhouse config")
)

// Config configures the schema and the writer.
type Config struct {
	// Addr is host:port of the native protocol (used by cmd to dial).
	Addr string
	// Database holds every table; default "mxwatch".
	Database string
	// User and Password authenticate (used by cmd to dial).
	User, Password string
	// Cluster, when set, creates the schema ON CLUSTER with Replicated
	// tables and Distributed tables over them.
	Cluster string
	// RetentionDays sets a TTL on every table when the server supports
	// TTL (19.6+); 0 keeps data forever.
	RetentionDays int
	// Logger receives the schema choices; nil discards.
	Logger *slog.Logger
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks names that end up in SQL text.
func (c Config) Validate() error {
	if c.Database != "" && !identRE.MatchString(c.Database) {
		return fmt.Errorf("%w: database %q", ErrBadConfig, c.Database)
	}
	if c.Cluster != "" && !identRE.MatchString(c.Cluster) {
		return fmt.Errorf("%w: cluster %q", ErrBadConfig, c.Cluster)
	}
	if c.RetentionDays < 0 {
		return fmt.Errorf("%w: retention days %d", ErrBadConfig, c.RetentionDays)
	}
	return nil
}

func (c Config) database() string {
	if c.Database == "" {
		return "mxwatch"
	}
	return c.Database
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Version is a parsed ClickHouse server version.
type Version struct{ Major, Minor, Patch int }

// String formats the version as "major.minor.patch".
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

func (v Version) atLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// ParseVersion parses what SELECT version() answers ("18.16.1",
// "24.3.2.23"); parts beyond the third are ignored.
func ParseVersion(s string) (Version, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ".", 4)
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
	}
	var n [3]int
	for i := 0; i < 3 && i < len(parts); i++ {
		p := parts[i]
		if i == 2 { // "1-lts", "3.23": keep the leading digits
			end := 0
			for end < len(p) && end < 9 && p[end] >= '0' && p[end] <= '9' {
				end++
			}
			p = p[:end]
			if p == "" {
				p = "0"
			}
		}
		if len(p) > 9 {
			return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
		}
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
		}
		n[i] = x
	}
	return Version{n[0], n[1], n[2]}, nil
}

// Features are the column types and clauses the schema uses, decided by
// server version.
type Features struct {
	// TTL clauses (ClickHouse 19.6+).
	TTL bool
	// LowCardinality(String) for enum-like columns (19.9+), else String.
	LowCardinality bool
	// IPv6 columns for client/server addresses (IPv4 mapped; 19.3+),
	// else String.
	IPTypes bool
	// DateTime64(3) for times (20.1+), else DateTime (seconds).
	DateTime64 bool
}

// FeaturesFor decides the features for a server version.
func FeaturesFor(v Version) Features {
	return Features{
		TTL:            v.atLeast(19, 6),
		LowCardinality: v.atLeast(19, 9),
		IPTypes:        v.atLeast(19, 3),
		DateTime64:     v.atLeast(20, 1),
	}
}

// Migration is one rendered migration file.
type Migration struct {
	Version uint32
	// Name is the file name, e.g. "0001_events.sql".
	Name       string
	Statements []string
}

// Statements renders every embedded migration, in version order, for cfg
// and the given server version.
func Statements(cfg Config, server Version) ([]Migration, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: listing migrations: %w", err)
	}
	sort.Strings(names)
	f := FeaturesFor(server)
	var out []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("clickhouse: migration %s: name must start with a number and '_'", base)
		}
		src, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("clickhouse: migration %s: %w", base, err)
		}
		stmts, err := render(base, string(src), cfg, f)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: uint32(v), Name: base, Statements: stmts})
	}
	return out, nil
}

func render(name, src string, cfg Config, f Features) ([]string, error) {
	db := cfg.database()
	cluster := cfg.Cluster
	local := func(t string) string {
		if cluster != "" {
			return db + "." + t + "_local"
		}
		return db + "." + t
	}
	replicated := func(engine, t string) string {
		if cluster == "" {
			return engine
		}
		return fmt.Sprintf("Replicated%s('/clickhouse/tables/{shard}/%s/%s_local', '{replica}')", engine, db, t)
	}
	funcs := template.FuncMap{
		"local": local,
		"onCluster": func() string {
			if cluster == "" {
				return ""
			}
			return " ON CLUSTER " + cluster
		},
		"clustered":       func() bool { return cluster != "" },
		"distributedName": func(t string) string { return db + "." + t },
		"engine":          func(t string) string { return replicated("ReplacingMergeTree", t) },
		"aggEngine":       func(t string) string { return replicated("AggregatingMergeTree", t) },
		"distributed": func(t, key string) string {
			if cluster == "" {
				return ""
			}
			return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s ON CLUSTER %s AS %s ENGINE = Distributed(%s, %s, %s_local, %s)",
				db, t, cluster, local(t), cluster, db, t, key)
		},
		"lc": func() string {
			if f.LowCardinality {
				return "LowCardinality(String)"
			}
			return "String"
		},
		"ip": func() string {
			if f.IPTypes {
				return "IPv6"
			}
			return "String"
		},
		"dt": func() string {
			if f.DateTime64 {
				return "DateTime64(3, 'UTC')"
			}
			return "DateTime"
		},
		"ttl": func(col string) string {
			if !f.TTL || cfg.RetentionDays == 0 {
				return ""
			}
			return fmt.Sprintf("\nTTL toDateTime(%s) + INTERVAL %d DAY", col, cfg.RetentionDays)
		},
	}
	tmpl, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: migration %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, nil); err != nil {
		return nil, fmt.Errorf("clickhouse: migration %s: %w", name, err)
	}
	var stmts []string
	for _, s := range strings.Split(b.String(), ";\n") {
		s = strings.TrimSpace(stripComments(s))
		s = strings.TrimSuffix(s, ";")
		if s != "" {
			stmts = append(stmts, s)
		}
	}
	return stmts, nil
}

// stripComments removes whole-line "--" comments.
func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// ServerVersion asks the server for its version.
func ServerVersion(ctx context.Context, conn driver.Conn) (Version, error) {
	var s string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&s); err != nil {
		return Version{}, fmt.Errorf("clickhouse: version: %w", err)
	}
	return ParseVersion(s)
}

// Migrate creates the database and the schema_migrations table, then runs
// every migration not yet recorded there, in order, recording each. When
// every migration is recorded already it runs no DDL at all, so an account
// without DDL rights can call it to check the schema. It
// returns the names of the migrations it applied (none when the schema is
// current). A failing statement stops it with an error naming the file
// and the statement. The schema_migrations table is local to the node
// Migrate talks to, also on a cluster.
func Migrate(ctx context.Context, conn driver.Conn, cfg Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.logger().With("component", "clickhouse-migrate")
	v, err := ServerVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	f := FeaturesFor(v)
	log.Info("schema features chosen", "server", v.String(), "ttl", f.TTL,
		"low_cardinality", f.LowCardinality, "ip_types", f.IPTypes, "datetime64", f.DateTime64,
		"cluster", cfg.Cluster, "retention_days", cfg.RetentionDays)
	migs, err := Statements(cfg, v)
	if err != nil {
		return nil, err
	}
	db := cfg.database()
	// A current schema needs no DDL at all, so that an account without
	// DDL rights (the sink's writer, allow_ddl=0) may run Migrate as a
	// check. Anything else (no table yet, migrations pending) goes on.
	if done, err := appliedVersions(ctx, conn, db); err == nil && allApplied(migs, done) {
		log.Info("schema current", "database", db, "migrations", len(migs))
		return nil, nil
	}
	onCluster := ""
	if cfg.Cluster != "" {
		onCluster = " ON CLUSTER " + cfg.Cluster
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + db + onCluster,
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations (version UInt32, name String, applied DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("clickhouse: migrate: %s: %w", firstLine(q), err)
		}
	}
	done, err := appliedVersions(ctx, conn, db)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range migs {
		if done[m.Version] {
			continue
		}
		for i, q := range m.Statements {
			if err := conn.Exec(ctx, q); err != nil {
				return applied, fmt.Errorf("clickhouse: migration %s statement %d (%s): %w", m.Name, i+1, firstLine(q), err)
			}
		}
		// Old servers wait for a data block after INSERT, so the record
		// goes through a batch rather than INSERT ... VALUES.
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name)")
		if err == nil {
			if err = b.Append(m.Version, m.Name); err == nil {
				err = b.Send()
			} else {
				_ = b.Abort()
			}
		}
		if err != nil {
			return applied, fmt.Errorf("clickhouse: migration %s: recording: %w", m.Name, err)
		}
		log.Info("migration applied", "name", m.Name, "statements", len(m.Statements))
		applied = append(applied, m.Name)
	}
	return applied, nil
}

// appliedVersions reads the versions recorded in schema_migrations.
func appliedVersions(ctx context.Context, conn driver.Conn, db string) (map[uint32]bool, error) {
	done := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: migrate: reading schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n uint32
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("clickhouse: migrate: reading schema_migrations: %w", err)
		}
		done[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: migrate: reading schema_migrations: %w", err)
	}
	return done, nil
}

func allApplied(migs []Migration, done map[uint32]bool) bool {
	for _, m := range migs {
		if !done[m.Version] {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 120 {
		l = l[:120]
	}
	return l
}

// Dial opens a native-protocol connection pool to cfg.Addr with cfg's
// credentials and database. It does not contact the server; the first
// query does.
func Dial(cfg Config) (driver.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%w: empty addr", ErrBadConfig)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{cfg.Addr},
		Auth: clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: dial %s: %w", cfg.Addr, err)
	}
	return conn, nil
}
