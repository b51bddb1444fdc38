package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwatch/mxwatch/event"
)

// lockedBuffer is a log sink safe for the producer's goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends. It skips the test when not root.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as a full file system (run the tests as root)")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		t.Skipf("cannot mount tmpfs (no CAP_SYS_ADMIN in this container?): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// checkSegments reads every segment file in dir and fails on a torn or
// damaged record: a full disk must not leave one behind. It returns the
// records and the bytes found.
func checkSegments(t *testing.T, dir string) (records int, size int64) {
	t.Helper()
	for _, f := range spoolFiles(t, dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		size += int64(len(b))
		for off := 0; off < len(b); {
			if len(b)-off < recHeaderLen {
				t.Fatalf("%s: torn header at %d", f, off)
			}
			l := int(binary.BigEndian.Uint32(b[off:]))
			if l > len(b)-off-recHeaderLen {
				t.Fatalf("%s: torn record at %d (%d bytes promised, %d there)", f, off, l, len(b)-off-recHeaderLen)
			}
			p := b[off+recHeaderLen : off+recHeaderLen+l]
			if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(b[off+4:]) {
				t.Fatalf("%s: bad CRC at %d", f, off)
			}
			if _, err := decodePayload(p); err != nil {
				t.Fatalf("%s: record at %d: %v", f, off, err)
			}
			off += recHeaderLen + l
			records++
		}
	}
	return records, size
}

// TestSpoolDiskFull spools onto a real, small, full file system while the
// brokers are down. Outcome: Publish never fails other than with
// ErrDropped, every drop is counted (Dropped and DroppedNoSpace), the
// drops are logged once, no segment is left with a torn record, and when
// the brokers return exactly the events that were spooled arrive, in order
// per key.
func TestSpoolDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name   string
		segMax int64 // 0: one segment takes everything
	}{
		{name: "one segment"},
		{name: "rotating segments", segMax: 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mountTmpfs(t, 256<<10)
			c1, brokers := newCluster(t, seedTopics())
			_, portStr, _ := net.SplitHostPort(brokers[0])
			port, _ := strconv.Atoi(portStr)
			c1.Close() // brokers down from the start

			var logs lockedBuffer
			cfg := testConfig(brokers)
			cfg.SpoolDir = dir
			cfg.SpoolSegmentBytes = tc.segMax
			cfg.QueueSize = 10
			p, err := NewProducer(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			evs := makeEvents(0, 150) // 3000 events, about 1 MB of JSON: 4 times the file system
			// The first event fails to send and switches the producer to
			// the spool; from then on Publish appends to the spool itself,
			// so what it reports dropped is exactly what is missing.
			if err := p.Publish(evs[0]); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first event spooled", func() bool { return p.Stats().Spooled == 1 })
			want := []event.Event{evs[0]}
			var dropErrs uint64
			for _, ev := range evs[1:] {
				switch err := p.Publish(ev); {
				case err == nil:
					want = append(want, ev)
				case errors.Is(err, ErrDropped):
					dropErrs++
				default:
					t.Fatalf("publish: %v, want nil or ErrDropped", err)
				}
			}
			st := p.Stats()
			if dropErrs == 0 || st.Dropped != dropErrs || st.DroppedNoSpace != dropErrs {
				t.Errorf("stats %+v: want dropped = dropped for no space = %d ErrDropped returns (> 0)", st, dropErrs)
			}
			if st.Spooled != uint64(len(want)) || st.Spooled+st.Dropped != uint64(len(evs)) {
				t.Errorf("spooled %d dropped %d, want %d spooled of %d", st.Spooled, st.Dropped, len(want), len(evs))
			}
			if n := strings.Count(logs.String(), "dropping events until the spool drains"); n != 1 {
				t.Errorf("drop logged %d times, want once:\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), "no space left on device") {
				t.Errorf("log does not say why:\n%s", logs.String())
			}
			records, size := checkSegments(t, dir)
			if records != len(want) || size != p.Stats().SpoolBytes {
				t.Errorf("on disk %d records, %d bytes; want %d records, %d bytes (SpoolBytes)", records, size, len(want), p.Stats().SpoolBytes)
			}

			c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), seedTopics())
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			if err := p.Close(ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
			st = p.Stats()
			if st.Published != uint64(len(want)) || st.SpoolBytes != 0 || st.Corrupt != 0 {
				t.Errorf("after recovery: stats %+v, want %d published (= %d published - %d dropped), empty spool", st, len(want), len(evs), dropErrs)
			}
			checkDelivered(t, c2.ListenAddrs(), want)
			if f := spoolFiles(t, dir); len(f) != 0 {
				t.Errorf("spool files left: %v", f)
			}
		})
	}
}

// TestSpoolAppendNoSpaceLeavesNoTornRecord pins the spool's part: a write
// cut short by ENOSPC is removed, later appends fail fast until space is
// freed, and a commit that frees a segment makes appends work again.
func TestSpoolAppendNoSpaceLeavesNoTornRecord(t *testing.T) {
	dir := mountTmpfs(t, 64<<10)
	var m metrics
	s, err := openSpool(dir, 1<<30, 8<<10, &m)
	if err != nil {
		t.Fatal(err)
	}
	big := record{topic: "mxwatch.dns", key: []byte("10.0.0.1"), value: bytes.Repeat([]byte("x"), 3000)}
	n := 0
	for ; n < 1000; n++ {
		if err := s.append(big); err != nil {
			if !errors.Is(err, errNoSpace) {
				t.Fatalf("append %d: %v, want errNoSpace", n, err)
			}
			break
		}
	}
	if n == 0 || n == 1000 {
		t.Fatalf("%d appends before the file system was full", n)
	}
	if err := s.append(rec(1)); !errors.Is(err, errNoSpace) {
		t.Errorf("append after ENOSPC: %v, want errNoSpace without writing", err)
	}
	records, size := checkSegments(t, dir)
	if records != n || size != m.spoolBytes.Load() {
		t.Errorf("on disk %d records %d bytes, want %d records %d bytes", records, size, n, m.spoolBytes.Load())
	}
	// Drain the head segment: space is freed and appends work again.
	rs, off, err := s.peek(1 << 20)
	if err != nil || len(rs) == 0 {
		t.Fatalf("peek: %d records, %v", len(rs), err)
	}
	if err := s.commit(off); err != nil {
		t.Fatal(err)
	}
	if err := s.append(rec(2)); err != nil {
		t.Errorf("append after freeing a segment: %v", err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	// A restart reads every record, none corrupt.
	var m2 metrics
	s2, err := openSpool(dir, 1<<30, 8<<10, &m2)
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, s2, 10000)
	if want := n - len(rs) + 1; len(got) != want || m2.corrupt.Load() != 0 {
		t.Errorf("restart drained %d records (corrupt %d), want %d, none corrupt", len(got), m2.corrupt.Load(), want)
	}
}
