package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
)

// TestMigrateCommand runs `mxwatch migrate` twice against Debian's
// ClickHouse started on a free loopback port: the first run applies the
// migrations, the second applies nothing.
func TestMigrateCommand(t *testing.T) {
	srv := chtest.Start(t)
	t.Setenv("MXWATCH_CLICKHOUSE_ADDR", srv.Addr)
	t.Setenv("MXWATCH_CLICKHOUSE_DATABASE", "mxtest")
	code, out, errs := mxwatch(t, "--config", "/dev/null", "migrate")
	if code != exitOK || !strings.Contains(out, "applied 0001_events.sql") {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = mxwatch(t, "--config", "/dev/null", "migrate")
	if code != exitOK || !strings.Contains(out, "up to date") || strings.Contains(out, "applied") {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errs)
	}
	// Roles need SQL access control (20.5+): on this server a clear error
	// pointing to the users.d accounts, exit 1, no password in it.
	t.Setenv("MXWATCH_CLICKHOUSE_WRITER_USER", "sinkwriter")
	t.Setenv("MXWATCH_CLICKHOUSE_WRITER_PASSWORD", "s3cret-writer")
	code, out, errs = mxwatch(t, "--config", "/dev/null", "migrate")
	if code != exitFailure || !strings.Contains(errs, "20.5") || !strings.Contains(errs, "users.d") || strings.Contains(out+errs, "s3cret") {
		t.Errorf("roles on 18.16: exit %d\n%s%s", code, out, errs)
	}
	os.Unsetenv("MXWATCH_CLICKHOUSE_WRITER_USER")
	os.Unsetenv("MXWATCH_CLICKHOUSE_WRITER_PASSWORD")
	// A server that is not there: a clear error and exit 1.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("MXWATCH_CLICKHOUSE_ADDR", addr)
	if code, _, errs := mxwatch(t, "--config", "/dev/null", "migrate"); code != exitFailure || !strings.Contains(errs, addr) {
		t.Errorf("no server: exit %d, want %d: %s", code, exitFailure, errs)
	}
}
