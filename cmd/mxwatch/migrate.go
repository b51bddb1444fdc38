package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxwatch/mxwatch/sink/clickhouse"
)

type clickhouseConfig struct {
	Addr     string `mapstructure:"addr"`
	Database string `mapstructure:"database"`
	User     string `mapstructure:"user"`
	Password string `mapstructure:"password"`
	// Cluster, when set, creates the schema ON CLUSTER with Replicated and
	// Distributed tables.
	Cluster       string `mapstructure:"cluster"`
	RetentionDays int    `mapstructure:"retention_days"`
	// Accounts `mxwatch migrate` creates with SQL roles (ClickHouse 20.5
	// and newer): a writer for the sink, a read-only one for dashboards.
	WriterUser     string `mapstructure:"writer_user"`
	WriterPassword string `mapstructure:"writer_password"`
	ReaderUser     string `mapstructure:"reader_user"`
	ReaderPassword string `mapstructure:"reader_password"`
}

func defaultClickHouseConfig() clickhouseConfig {
	return clickhouseConfig{Addr: "127.0.0.1:9000", Database: "mxwatch", User: "default"}
}

// clickhouseConfig converts the clickhouse section.
func (a *app) clickhouseConfig() clickhouse.Config {
	c := a.cfg.ClickHouse
	return clickhouse.Config{Addr: c.Addr, Database: c.Database, User: c.User, Password: c.Password,
		Cluster: c.Cluster, RetentionDays: c.RetentionDays, Logger: a.logger}
}

func (a *app) migrateCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the ClickHouse schema",
		Long: `migrate connects to ClickHouse (clickhouse.addr, native protocol) and applies
the schema migrations embedded in mxwatch that the database does not have
yet, in order, recording each in the table schema_migrations. Running it
again applies nothing. Column types and retention (clickhouse.retention_days)
follow what the server supports (TTL, LowCardinality and IP types need
newer servers than Debian's 18.16); the choices are logged. With
clickhouse.cluster the tables are created ON CLUSTER as Replicated tables
with Distributed tables over them.

With clickhouse.writer_user and/or clickhouse.reader_user set (passwords
from MXWATCH_CLICKHOUSE_WRITER_PASSWORD / _READER_PASSWORD), migrate also
creates the SQL roles mxwatch_writer (SELECT, INSERT on the database, no
DDL: for the sink) and mxwatch_reader (SELECT only: for Grafana and
reports) and those accounts with them; this needs ClickHouse 20.5 or newer
(SQL access control enabled for the admin account). Older servers: the
same accounts as users.d XML in deploy/clickhouse/users.d/.`,
		Example: `  mxwatch migrate
  MXWATCH_CLICKHOUSE_ADDR=ch1:9000 MXWATCH_CLICKHOUSE_PASSWORD=... mxwatch migrate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := a.cfg.ClickHouse
			cfg := a.clickhouseConfig()
			conn, err := clickhouse.Dial(cfg)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			applied, err := clickhouse.Migrate(ctx, conn, cfg)
			for _, name := range applied {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s\n", name)
			}
			if err != nil {
				return &exitError{exitFailure, fmt.Errorf("migrate %s on %s: %w", c.Database, c.Addr, err)}
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "schema of %s on %s is up to date\n", c.Database, c.Addr)
			}
			if c.WriterUser == "" && c.ReaderUser == "" {
				return nil
			}
			acc := clickhouse.Accounts{WriterUser: c.WriterUser, WriterPassword: c.WriterPassword,
				ReaderUser: c.ReaderUser, ReaderPassword: c.ReaderPassword}
			if err := clickhouse.ApplyRoles(ctx, conn, cfg, acc); err != nil {
				code := exitFailure
				if errors.Is(err, clickhouse.ErrNoRBAC) {
					err = fmt.Errorf("%w (on older servers define the accounts in users.d: deploy/clickhouse/users.d/mxwatch-roles.xml)", err)
				}
				return &exitError{code, fmt.Errorf("roles on %s: %w", c.Addr, err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "roles %s and %s and their accounts are in place\n", clickhouse.WriterRole, clickhouse.ReaderRole)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}
