package chtest

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func TestStartRestart(t *testing.T) {
	s := Start(t)
	if s.Version == "" {
		t.Fatal("empty version")
	}
	t.Logf("clickhouse-server %s at %s (http %s)", s.Version, s.Addr, s.HTTPAddr)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.Addr}, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE default.keep (x UInt8) ENGINE = MergeTree ORDER BY x"); err != nil {
		t.Fatal(err)
	}
	// Old servers (18.16) wait for a data block after an INSERT, so
	// inserts go through batches, never INSERT ... VALUES in Exec.
	b, err := conn.PrepareBatch(ctx, "INSERT INTO default.keep (x)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint8(7)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	conn2, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	var x uint8
	if err := conn2.QueryRow(ctx, "SELECT x FROM default.keep").Scan(&x); err != nil {
		t.Fatal(err)
	}
	if x != 7 {
		t.Fatalf("after restart x = %d, want 7", x)
	}
}
