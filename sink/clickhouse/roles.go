package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Role names created by RoleStatements.
const (
	// WriterRole may INSERT and SELECT in the database, nothing else: the
	// sink's account.
	WriterRole = "mxwatch_writer"
	// ReaderRole may SELECT in the database: the dashboards' account.
	ReaderRole = "mxwatch_reader"
)

// ErrNoRBAC is returned by ApplyRoles when the server predates SQL access
// control (CREATE ROLE, GRANT: ClickHouse 20.5). Such servers get their
// accounts from users.xml (deploy/clickhouse/users.d/mxwatch-roles.xml).
var ErrNoRBAC = errors.New("server has no SQL access control (needs ClickHouse 20.5+); define the accounts in users.xml")

// Accounts are the sink's writer account and the dashboards' reader
// account, created with SQL access control. An empty user is skipped.
// Passwords come from the environment or a secret file, never from the
// repository; they are sent as sha256_password and never logged.
type Accounts struct {
	WriterUser, WriterPassword string
	ReaderUser, ReaderPassword string
}

// RoleStatements renders the SQL that creates the writer and reader roles,
// grants them their rights on cfg's database, and creates (or updates the
// password of) the accounts that hold them. Every statement is idempotent.
// Nothing grants DDL, so the writer cannot create, alter, rename, truncate
// or drop anything; the reader cannot write either.
func RoleStatements(cfg Config, a Accounts) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db := cfg.database()
	on := ""
	if cfg.Cluster != "" {
		on = " ON CLUSTER " + cfg.Cluster
	}
	stmts := []string{
		"CREATE ROLE IF NOT EXISTS " + WriterRole + on,
		"GRANT" + on + " SELECT, INSERT ON " + db + ".* TO " + WriterRole,
		"CREATE ROLE IF NOT EXISTS " + ReaderRole + on,
		"GRANT" + on + " SELECT ON " + db + ".* TO " + ReaderRole,
	}
	for _, acc := range []struct{ user, password, role string }{
		{a.WriterUser, a.WriterPassword, WriterRole},
		{a.ReaderUser, a.ReaderPassword, ReaderRole},
	} {
		if acc.user == "" {
			continue
		}
		if !identRE.MatchString(acc.user) {
			return nil, fmt.Errorf("%w: account name %q", ErrBadConfig, acc.user)
		}
		if acc.password == "" {
			return nil, fmt.Errorf("%w: account %s has no password", ErrBadConfig, acc.user)
		}
		pw := quote(acc.password)
		stmts = append(stmts,
			"CREATE USER IF NOT EXISTS "+acc.user+on+" IDENTIFIED WITH sha256_password BY "+pw+" DEFAULT DATABASE "+db,
			"ALTER USER "+acc.user+on+" IDENTIFIED WITH sha256_password BY "+pw,
			"GRANT"+on+" "+acc.role+" TO "+acc.user,
			"ALTER USER "+acc.user+on+" DEFAULT ROLE "+acc.role,
		)
	}
	return stmts, nil
}

// quote renders s as a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// redact hides a statement's string literals (passwords) for messages.
func redact(q string) string {
	if i := strings.Index(q, " BY '"); i >= 0 {
		return q[:i] + " BY '…'"
	}
	return q
}

// ApplyRoles runs RoleStatements on servers that have SQL access control
// (20.5+, asked with SELECT version()); on older ones it runs nothing and
// returns ErrNoRBAC. It needs an account allowed to manage access (the
// admin that runs `mxwatch migrate`).
func ApplyRoles(ctx context.Context, conn driver.Conn, cfg Config, a Accounts) error {
	stmts, err := RoleStatements(cfg, a)
	if err != nil {
		return err
	}
	v, err := ServerVersion(ctx, conn)
	if err != nil {
		return err
	}
	if !v.atLeast(20, 5) {
		return fmt.Errorf("clickhouse: roles: server %s: %w", v, ErrNoRBAC)
	}
	log := cfg.logger().With("component", "clickhouse-migrate")
	for _, q := range stmts {
		if err := conn.Exec(ctx, q); err != nil {
			// The server's message may quote the statement: the
			// passwords are cut out of it.
			msg := err.Error()
			for _, pw := range []string{a.WriterPassword, a.ReaderPassword} {
				if pw != "" {
					msg = strings.ReplaceAll(msg, pw, "…")
				}
			}
			kind, code := Classify(err)
			return fmt.Errorf("clickhouse: roles: %s: %s error (ClickHouse code %d): %s", redact(q), kind, code, msg)
		}
	}
	log.Info("accounts and roles applied", "writer", a.WriterUser, "reader", a.ReaderUser,
		"roles", WriterRole+","+ReaderRole, "database", cfg.database())
	return nil
}
