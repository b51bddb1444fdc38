package main

import (
	"net"
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
