package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

func TestConfigDiff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*fileConfig)
		applied []string
		restart []string
	}{
		{"nothing", func(*fileConfig) {}, nil, nil},
		{"relay added", func(c *fileConfig) { c.Platform.Relays = append(c.Platform.Relays, "10.20.9.9") }, []string{"platform.relays"}, nil},
		{"level and privacy", func(c *fileConfig) { c.Log.Level = "debug"; c.Privacy.Subjects = "drop" }, []string{"log.level", "privacy.subjects"}, nil},
		{"signatures", func(c *fileConfig) { c.Detect.Signatures = "sigs.yaml" }, []string{"detect.signatures"}, nil},
		{"restart only", func(c *fileConfig) { c.Live.Workers = 4; c.Capture.TCP.MaxFlows = 7 }, nil, []string{"capture.tcp.max_flows", "live.workers"}},
		{"secret named, not shown", func(c *fileConfig) { c.Kafka.SASL.Password = "hunter2" }, nil, []string{"kafka.sasl.password"}},
		{"pairing", func(c *fileConfig) { c.Detect.Pairing.MaxEntries = 5 }, nil, []string{"detect.pairing.max_entries"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := defaultFileConfig(), defaultFileConfig()
			tc.mod(&b)
			var applied, restart []string
			for _, k := range configDiff(a, b) {
				if isLiveKey(k) {
					applied = append(applied, k)
				} else {
					restart = append(restart, k)
				}
			}
			if !slices.Equal(applied, tc.applied) || !slices.Equal(restart, tc.restart) {
				t.Errorf("applied %v restart %v; want %v and %v", applied, restart, tc.applied, tc.restart)
			}
		})
	}
}

// reloadApp is an app set up from the configuration file path, as
// PersistentPreRunE does.
func reloadApp(t *testing.T, path string) *app {
	t.Helper()
	a := &app{v: newViper(), configPath: path, logger: slog.New(slog.DiscardHandler)}
	cfg, _, err := loadConfig(a.v, path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.resolvePaths(filepath.Dir(path))
	a.cfg, a.loaded = cfg, cfg
	return a
}

func TestPrepareReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mxwatch.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("platform:\n  networks: [10.20.0.0/16]\n")
	a := reloadApp(t, path)

	for _, tc := range []struct {
		name, file       string
		applied, restart []string
		err              string
	}{
		{name: "unchanged", file: "platform:\n  networks: [10.20.0.0/16]\n"},
		{name: "relay and level", file: "log:\n  level: debug\nplatform:\n  networks: [10.20.0.0/16]\n  relays: [10.20.0.25]\nlive:\n  workers: 3\n",
			applied: []string{"log.level", "platform.relays"}, restart: []string{"live.workers"}},
		{name: "bad network", file: "platform:\n  networks: [10.20.0.0/40]\n", err: "platform.networks"},
		{name: "bad level", file: "log:\n  level: loud\n", err: "log.level"},
		{name: "unknown key", file: "platfrom:\n  relays: [x]\n", err: "platfrom"},
		{name: "not yaml", file: "platform: [\n", err: "mxwatch.yaml"},
		{name: "missing signatures", file: "detect:\n  signatures: nowhere.yaml\n", err: "detect.signatures"},
		{name: "privacy without key", file: "privacy:\n  recipients: hash\n", err: "privacy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.file)
			u, err := a.prepareReload()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(u.applied, tc.applied) || !slices.Equal(u.restart, tc.restart) {
				t.Errorf("applied %v restart %v; want %v and %v", u.applied, u.restart, tc.applied, tc.restart)
			}
		})
	}

	// After a commit, an applied change is the new baseline; a restart-only
	// change is reported again on every reload.
	write("log:\n  level: debug\nplatform:\n  networks: [10.20.0.0/16]\nlive:\n  workers: 3\n")
	u, err := a.prepareReload()
	if err != nil {
		t.Fatal(err)
	}
	a.commit(u)
	if a.level.Level() != slog.LevelDebug {
		t.Errorf("level after commit: %v", a.level.Level())
	}
	u, err = a.prepareReload()
	if err != nil {
		t.Fatal(err)
	}
	if len(u.applied) != 0 || !slices.Equal(u.restart, []string{"live.workers"}) {
		t.Errorf("second reload: applied %v restart %v", u.applied, u.restart)
	}
}

// TestCaptureReload runs the live sensor, replays the demo capture, adds
// one of its hosts to platform.relays and sends SIGHUP, then replays it
// again: the host's connections are direct-to-MX and direct-25 before the
// reload and relay after it, with no restart. A broken file on a second
// SIGHUP is logged and changes nothing.
func TestCaptureReload(t *testing.T) {
	ns := netns(t)
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o755)
	for _, f := range []string{"platform.yaml", "inventory.csv"} {
		b, err := os.ReadFile(filepath.Join("../../testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "platform.yaml")
	orig, _ := os.ReadFile(cfg)
	got := filepath.Join(dir, "got.jsonl")
	pcap, _ := filepath.Abs("../../testdata/classes.pcap")

	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join([]string{"capture", "--config", cfg, "-i", "veth1",
		"--events", got}, "\x1f"), "MXWATCH_METRICS_LISTEN=",
		// The last connection of the capture is never answered: on a quiet
		// link it ends by the clock, after the handshake timeout.
		"MXWATCH_CAPTURE_TCP_HANDSHAKE_TIMEOUT=2s")
	log := startCapture(t, cmd)
	waitLog := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(log.String(), what) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q (%d) in the log:\n%s", what, n, log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	replay := func() {
		t.Helper()
		replayInto(t, ns, pcap)
	}
	findings := func() []*event.Finding {
		var out []*event.Finding
		for _, ev := range readEvents(t, got) {
			if fi, ok := ev.(*event.Finding); ok {
				out = append(out, fi)
			}
		}
		return out
	}
	waitLog("msg=capturing", 1)
	replay()
	// The first round is complete when its 8 findings are written (the
	// events file is flushed per event).
	waitFindings := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for len(findings()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d findings after 30 s, want %d:\n%s", len(findings()), n, log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFindings(8)

	changed := strings.Replace(string(orig), "relays: [10.20.0.25,", "relays: [10.20.0.25, 10.20.1.5,", 1)
	if changed == string(orig) {
		t.Fatal("testdata/platform.yaml has no relays line to extend")
	}
	changed = strings.Replace(changed, "platform:\n", "live:\n  workers: 2\nplatform:\n", 1)
	if err := os.WriteFile(cfg, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(`msg="configuration reloaded" applied=platform.relays`, 1)
	waitLog(`keys=live.workers`, 1)
	replay()
	waitFindings(16)

	// A broken file: logged, counted, nothing changes.
	if err := os.WriteFile(cfg, []byte("platform: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(`msg="configuration reload failed; the running configuration stays"`, 1)
	time.Sleep(500 * time.Millisecond) // the ring's block timeout and the idle flush
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, log.String())
	}

	all := findings()
	if len(all) != 16 {
		t.Fatalf("%d findings, want 8 per round", len(all))
	}
	count := func(fs []*event.Finding) map[string]int {
		m := map[string]int{}
		for _, f := range fs {
			m[fmt.Sprint(f.Client.Addr(), " ", f.Class)]++
		}
		return m
	}
	before, after := count(all[:8]), count(all[8:])
	for _, tc := range []struct {
		key           string
		before, after int
	}{
		{"10.20.1.5 direct-to-mx", 3, 0},
		{"10.20.1.5 direct-25", 2, 0},
		{"10.20.1.5 relay", 0, 5},
		{"10.20.1.10 relay", 1, 1},
		{"10.20.2.7 external-relay-25", 1, 1},
		{"10.20.3.14 submission", 1, 1},
	} {
		if before[tc.key] != tc.before || after[tc.key] != tc.after {
			t.Errorf("%s: %d before the reload and %d after, want %d and %d", tc.key, before[tc.key], after[tc.key], tc.before, tc.after)
		}
	}
	t.Logf("before %v; after %v", before, after)
}
