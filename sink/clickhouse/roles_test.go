package clickhouse

import (
	"errors"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
)

// rolesFile is the compose stack's ClickHouse accounts file.
const rolesFile = "../../deploy/clickhouse/users.d/mxwatch-roles.xml"

// constraintsRE matches the <constraints> block, which ClickHouse 18.16
// does not know (settings constraints came with 19.x).
var constraintsRE = regexp.MustCompile(`(?s)\s*<constraints>.*?</constraints>`)

func openAs(t *testing.T, s *chtest.Server, user, password, db string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.Addr},
		Auth: clickhouse.Auth{Database: db, Username: user, Password: password}, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRolesOn1816 starts the test server with the compose stack's accounts
// file (only its settings constraints removed, see above) and checks what
// each account may do: the writer inserts and reads but runs no DDL, the
// reader only reads, and neither reaches another database.
func TestRolesOn1816(t *testing.T) {
	xml, err := os.ReadFile(rolesFile)
	if err != nil {
		t.Fatal(err)
	}
	const db = "mxroles"
	srv := chtest.StartWith(t, chtest.Options{
		UsersD: map[string]string{"mxwatch-roles.xml": constraintsRE.ReplaceAllString(string(xml), "")},
		Env:    []string{"CLICKHOUSE_WRITER_PASSWORD=writer-test-pw", "CLICKHOUSE_READER_PASSWORD=reader-test-pw", "CLICKHOUSE_DB=" + db},
	})
	ctx := t.Context()
	admin := open(t, srv)
	cfg := Config{Database: db}
	if _, err := Migrate(ctx, admin, cfg); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS other",
		"CREATE TABLE IF NOT EXISTS other.t (x UInt8) ENGINE = Memory",
	} {
		if err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	writer := openAs(t, srv, "mxwatch_writer", "writer-test-pw", "default")
	reader := openAs(t, srv, "mxwatch_reader", "reader-test-pw", "default")
	badPW := openAs(t, srv, "mxwatch_writer", "wrong", "default")

	dns := &event.DNS{Kind: event.KindDNS, Version: event.SchemaVersion, ID: "roles-1", Sensor: "t",
		Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Client: netip.MustParseAddrPort("10.0.0.1:5353"),
		Server: netip.MustParseAddrPort("10.0.0.53:53"), QName: "example.org", QType: "MX"}

	type action func(conn driver.Conn) error
	exec := func(q string) action {
		return func(conn driver.Conn) error { return conn.Exec(ctx, strings.ReplaceAll(q, "{db}", db)) }
	}
	query := func(q string) action {
		return func(conn driver.Conn) error {
			var n uint64
			return conn.QueryRow(ctx, strings.ReplaceAll(q, "{db}", db)).Scan(&n)
		}
	}
	insert := func(conn driver.Conn) error { return NewWriter(conn, cfg).Insert(ctx, []event.Event{dns}) }
	migrate := func(conn driver.Conn) error { _, err := Migrate(ctx, conn, cfg); return err }

	for _, tc := range []struct {
		name    string
		conn    driver.Conn
		do      action
		allowed bool
		kind    ErrorKind // of the refusal
	}{
		{name: "writer inserts events", conn: writer, do: insert, allowed: true},
		{name: "writer selects", conn: writer, do: query("SELECT count() FROM {db}.dns_answers FINAL"), allowed: true},
		{name: "writer checks a current schema", conn: writer, do: migrate, allowed: true},
		{name: "writer cannot drop a table", conn: writer, do: exec("DROP TABLE {db}.dns_answers"), kind: KindAccess},
		{name: "writer cannot truncate", conn: writer, do: exec("TRUNCATE TABLE {db}.dns_answers"), kind: KindAccess},
		{name: "writer cannot alter", conn: writer, do: exec("ALTER TABLE {db}.dns_answers DROP COLUMN qtype"), kind: KindAccess},
		{name: "writer cannot rename", conn: writer, do: exec("RENAME TABLE {db}.alerts TO {db}.alerts_x"), kind: KindAccess},
		{name: "writer cannot create", conn: writer, do: exec("CREATE TABLE {db}.x (a UInt8) ENGINE = Memory"), kind: KindAccess},
		{name: "writer cannot drop the database", conn: writer, do: exec("DROP DATABASE {db}"), kind: KindAccess},
		{name: "writer cannot read another database", conn: writer, do: query("SELECT count() FROM other.t"), kind: KindAccess},
		{name: "reader selects", conn: reader, do: query("SELECT count() FROM {db}.dns_answers FINAL"), allowed: true},
		{name: "reader selects an aggregate", conn: reader, do: query("SELECT count() FROM {db}.hourly_by_source"), allowed: true},
		{name: "reader cannot insert", conn: reader, do: insert, kind: KindAccess},
		{name: "reader cannot drop a table", conn: reader, do: exec("DROP TABLE {db}.dns_answers"), kind: KindAccess},
		{name: "reader cannot alter", conn: reader, do: exec("ALTER TABLE {db}.dns_answers DELETE WHERE 1"), kind: KindAccess},
		{name: "reader cannot read another database", conn: reader, do: query("SELECT count() FROM other.t"), kind: KindAccess},
		{name: "wrong password", conn: badPW, do: query("SELECT count() FROM {db}.dns_answers"), kind: KindAccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(tc.conn)
			if tc.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed, want refused")
			}
			kind, code := Classify(err)
			if kind != tc.kind {
				t.Errorf("refused as %s (code %d), want %s: %v", kind, code, tc.kind, err)
			}
			t.Logf("refused: code %d", code)
		})
	}
	// Nothing the refused statements tried took effect.
	if n := count(t, admin, "SELECT count() FROM "+db+".dns_answers FINAL"); n != 1 {
		t.Errorf("%d rows in dns_answers, want the writer's 1", n)
	}
	if n := count(t, admin, "SELECT count() FROM system.columns WHERE database = '"+db+"' AND table = 'dns_answers' AND name = 'qtype'"); n != 1 {
		t.Error("column qtype is gone")
	}
}

func TestRoleStatements(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		acc     Accounts
		want    []string // statements, in order, that must be there
		notWant []string // substrings that must not be anywhere
		err     error
	}{
		{
			name: "roles only",
			want: []string{
				"CREATE ROLE IF NOT EXISTS mxwatch_writer",
				"GRANT SELECT, INSERT ON mxwatch.* TO mxwatch_writer",
				"CREATE ROLE IF NOT EXISTS mxwatch_reader",
				"GRANT SELECT ON mxwatch.* TO mxwatch_reader",
			},
			notWant: []string{"CREATE USER", "ALTER ON", "DROP", "CREATE ON", "ALL"},
		},
		{
			name: "accounts",
			cfg:  Config{Database: "mx"},
			acc:  Accounts{WriterUser: "sink", WriterPassword: `it's\secret`, ReaderUser: "grafana", ReaderPassword: "r"},
			want: []string{
				"GRANT SELECT, INSERT ON mx.* TO mxwatch_writer",
				`CREATE USER IF NOT EXISTS sink IDENTIFIED WITH sha256_password BY 'it\'s\\secret' DEFAULT DATABASE mx`,
				`ALTER USER sink IDENTIFIED WITH sha256_password BY 'it\'s\\secret'`,
				"GRANT mxwatch_writer TO sink",
				"ALTER USER sink DEFAULT ROLE mxwatch_writer",
				"GRANT mxwatch_reader TO grafana",
				"ALTER USER grafana DEFAULT ROLE mxwatch_reader",
			},
		},
		{
			name: "on cluster",
			cfg:  Config{Cluster: "c1"},
			acc:  Accounts{ReaderUser: "grafana", ReaderPassword: "r"},
			want: []string{
				"CREATE ROLE IF NOT EXISTS mxwatch_writer ON CLUSTER c1",
				"GRANT ON CLUSTER c1 SELECT ON mxwatch.* TO mxwatch_reader",
				"CREATE USER IF NOT EXISTS grafana ON CLUSTER c1 IDENTIFIED WITH sha256_password BY 'r' DEFAULT DATABASE mxwatch",
			},
			notWant: []string{"TO sink"},
		},
		{name: "no password", acc: Accounts{WriterUser: "sink"}, err: ErrBadConfig},
		{name: "bad user name", acc: Accounts{ReaderUser: "a; DROP", ReaderPassword: "x"}, err: ErrBadConfig},
		{name: "bad database", cfg: Config{Database: "x.y"}, err: ErrBadConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmts, err := RoleStatements(tc.cfg, tc.acc)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			for _, s := range stmts {
				if i < len(tc.want) && s == tc.want[i] {
					i++
				}
				for _, bad := range tc.notWant {
					if strings.Contains(s, bad) {
						t.Errorf("statement %q contains %q", s, bad)
					}
				}
			}
			if i < len(tc.want) {
				t.Errorf("missing or out of order: %q\nin:\n%s", tc.want[i], strings.Join(stmts, "\n"))
			}
		})
	}
}

// TestApplyRolesOn1816: 18.16 has no CREATE ROLE; ApplyRoles says so and
// runs nothing (the accounts come from users.xml there).
func TestApplyRolesOn1816(t *testing.T) {
	srv := chtest.Start(t)
	conn := open(t, srv)
	err := ApplyRoles(t.Context(), conn, Config{}, Accounts{WriterUser: "sink", WriterPassword: "pw"})
	if !errors.Is(err, ErrNoRBAC) {
		t.Fatalf("ApplyRoles = %v, want ErrNoRBAC", err)
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("error shows the password: %v", err)
	}
}
