//go:build unix

package watch

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestNotifyHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.csv")
	writeFile(t, path, "v1")
	l := &loader{}
	r := &Reloader{Path: path, Interval: time.Hour, Load: l.load}
	start(t, r)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	NotifyHUP(ctx, r)
	// signal.Notify is in place when NotifyHUP returns, so SIGHUP is
	// caught rather than ending the test binary.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a load on SIGHUP", func() bool { _, n := l.last(); return n == 1 })
	if st := r.Stats(); st.Triggers != 1 || st.Reloads != 1 {
		t.Errorf("Stats %+v", st)
	}
	// Cancelling ctx ends the goroutine; goleak in TestMain checks it.
	cancel()
}
