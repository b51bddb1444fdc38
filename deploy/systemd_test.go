package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: the capture unit runs unprivileged with exactly the
// capabilities AF_PACKET needs, and systemd accepts it.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("mxwatch-capture.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"\nUser=mxwatch\n", "\nAmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN\n",
		"\nCapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN\n", "\nNoNewPrivileges=yes\n", "ExecStart=/usr/local/bin/mxwatch capture ",
		"\nKillSignal=SIGTERM\n", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(unit, "User=root") {
		t.Error("unit runs as root")
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit's syntax is not checked")
	}
	// The binary is not installed here: verify the unit with /bin/true in
	// its place.
	tmp := filepath.Join(t.TempDir(), "mxwatch-capture.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(unit, "/usr/local/bin/mxwatch", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", tmp).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Logf("systemd-analyze: %s", s)
	}
}
