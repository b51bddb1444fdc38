package dnstap

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// unboundPath returns the unbound binary, or skips the test when it is
// missing or built without dnstap.
func unboundPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("unbound")
	if err != nil {
		for _, p := range []string{"/usr/sbin/unbound", "/usr/local/sbin/unbound"} {
			if _, err := os.Stat(p); err == nil {
				path = p
			}
		}
	}
	if path == "" {
		t.Skip("unbound not installed (Debian: apt-get install unbound)")
	}
	out, err := exec.Command(path, "-V").CombinedOutput()
	if err != nil {
		t.Skipf("unbound -V: %v: %s", err, out)
	}
	if !bytes.Contains(out, []byte("--enable-dnstap")) {
		t.Skip("unbound was built without --enable-dnstap")
	}
	return path
}

// freePort returns a loopback port free for both UDP and TCP.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		tl.Close()
		if err == nil {
			ul.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

const unboundZones = `
  local-zone: "mail-a.test." static
  local-data: "mail-a.test. 300 IN MX 10 mx1.mail-a.test."
  local-data: "mail-a.test. 300 IN MX 20 mx2.mail-a.test."
  local-data: "mx1.mail-a.test. 300 IN A 127.0.0.21"
  local-zone: "mail-b.test." static
  local-data: "mail-b.test. 300 IN MX 5 mx.mail-b.test."
  local-data: "mx.mail-b.test. 300 IN A 127.0.0.22"
  local-zone: "ready.test." static
  local-data: "ready.test. 300 IN A 127.0.0.1"
`

// startUnbound runs unbound -d on 127.0.0.1:port with the given dnstap
// section; it is stopped (SIGTERM, then waited for) by stop.
func startUnbound(t *testing.T, bin string, port int, dnstap string) (stop func()) {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`server:
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-daemonize: no
  interface: 127.0.0.1
  port: %d
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  num-threads: 1
%s
dnstap:
  dnstap-enable: yes
  dnstap-send-identity: yes
  dnstap-send-version: yes
  dnstap-identity: "mxwatch-test"
  dnstap-log-client-query-messages: yes
  dnstap-log-client-response-messages: yes
%s
`, dir, port, unboundZones, dnstap)
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", path)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("unbound log:\n%s", log.String())
		}
	}
	t.Cleanup(stop)
	return stop
}

// exchange sends a query for name and type from a fresh socket of the
// given network and returns the socket's address and the answer.
func exchange(t *testing.T, network string, server string, name string, qtype uint16) (netip.AddrPort, *mdns.Msg, error) {
	t.Helper()
	c, err := net.Dial(network, server)
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	co := &mdns.Conn{Conn: c}
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	if err := co.WriteMsg(q); err != nil {
		return netip.AddrPort{}, nil, err
	}
	r, err := co.ReadMsg()
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	return local, r, err
}

func TestUnbound(t *testing.T) {
	bin := unboundPath(t)
	tests := []struct {
		name    string
		network string
		// idle, when set, is the listener's IdleTimeout: the test waits
		// for the listener to close unbound's idle connection and for
		// unbound to reconnect before it queries.
		idle time.Duration
	}{
		{name: "unix socket", network: "unix"},
		{name: "tcp", network: "tcp"},
		{name: "reconnect after idle close", network: "unix", idle: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tt.network == "unix" {
				addr = filepath.Join(t.TempDir(), "dnstap.sock")
			}
			l, err := Listen(tt.network, addr, Config{Sensor: "lab", IdleTimeout: tt.idle})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
			defer cancel()
			evs := make(chan *event.DNS, 64)
			done := make(chan error, 1)
			go func() { done <- l.Serve(ctx, func(d *event.DNS) { evs <- d }) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}()

			section := fmt.Sprintf("  dnstap-socket-path: %q", addr)
			if tt.network == "tcp" {
				section = fmt.Sprintf("  dnstap-ip: \"127.0.0.1@%d\"\n  dnstap-tls: no", l.Addr().(*net.TCPAddr).Port)
			}
			port := freePort(t)
			server := fmt.Sprintf("127.0.0.1:%d", port)
			stop := startUnbound(t, bin, port, section)

			// Wait for unbound to connect and to answer. (ControlFrames
			// counts READY and START only once the first data frame is
			// read.)
			for l.Stats().Conns < 1 || !answers(t, server) {
				select {
				case <-ctx.Done():
					t.Fatalf("unbound did not come up: %+v", l.Stats())
				case <-time.After(20 * time.Millisecond):
				}
			}

			// Without idle closes: one connection, READY, START and STOP.
			wantConns, wantControls := uint64(1), uint64(3)
			if tt.idle > 0 {
				for l.Stats().IdleTimeouts == 0 {
					select {
					case <-ctx.Done():
						t.Fatalf("idle connection not closed: %+v", l.Stats())
					case <-time.After(20 * time.Millisecond):
					}
				}
				// unbound reconnects at once; how many idle closes happen
				// before the queries depends on timing.
				wantConns, wantControls = 0, 0
			}

			type lookup struct {
				network, name string
				qtype         uint16
				want          []event.RR
			}
			lookups := []lookup{
				{"udp", "mail-a.test.", mdns.TypeMX, []event.RR{
					{Name: "mail-a.test", Type: "MX", TTL: 300, Pref: 10, Host: "mx1.mail-a.test"},
					{Name: "mail-a.test", Type: "MX", TTL: 300, Pref: 20, Host: "mx2.mail-a.test"}}},
				{"udp", "MAIL-B.test.", mdns.TypeMX, []event.RR{
					{Name: "mail-b.test", Type: "MX", TTL: 300, Pref: 5, Host: "mx.mail-b.test"}}},
				{"udp", "mx1.mail-a.test.", mdns.TypeA, []event.RR{
					{Name: "mx1.mail-a.test", Type: "A", TTL: 300, Addr: netip.MustParseAddr("127.0.0.21")}}},
				{"tcp", "mx.mail-b.test.", mdns.TypeA, []event.RR{
					{Name: "mx.mail-b.test", Type: "A", TTL: 300, Addr: netip.MustParseAddr("127.0.0.22")}}},
			}
			clients := make([]netip.AddrPort, len(lookups))
			for i, lk := range lookups {
				local, r, err := exchange(t, lk.network, server, lk.name, lk.qtype)
				if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != len(lk.want) {
					t.Fatalf("%s %s: %v %v", lk.name, mdns.TypeToString[lk.qtype], err, r)
				}
				clients[i] = local
			}

			got := map[netip.AddrPort]*event.DNS{}
			for len(got) < len(lookups) {
				select {
				case d := <-evs:
					if d.QName != "ready.test" {
						got[d.Client] = d
					}
				case <-ctx.Done():
					t.Fatalf("got %d of %d events; stats %+v", len(got), len(lookups), l.Stats())
				}
			}
			for i, lk := range lookups {
				d := got[clients[i]]
				if d == nil {
					t.Errorf("%s: no event from client %v", lk.name, clients[i])
					continue
				}
				ans := slices.Clone(d.Answers)
				slices.SortFunc(ans, func(x, y event.RR) int { return int(x.Pref) - int(y.Pref) })
				if d.QName != strings.ToLower(strings.TrimSuffix(lk.name, ".")) || d.QType != mdns.TypeToString[lk.qtype] ||
					d.Transport != lk.network || !d.Matched || d.Server.String() != server || d.RCode != "NOERROR" ||
					d.Sensor != "lab" || d.Time.Before(d.QueryTime) || d.QueryTime.IsZero() ||
					fmt.Sprint(ans) != fmt.Sprint(lk.want) {
					t.Errorf("%s: event %+v\nwant answers %v", lk.name, d, lk.want)
				}
				if err := d.Validate(); err != nil {
					t.Errorf("%s: %v", lk.name, err)
				}
			}

			// unbound ends its stream with STOP when it shuts down.
			stop()
			st := l.Stats()
			for st.Active > 0 && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
				st = l.Stats()
			}
			t.Logf("stats after unbound stopped: %+v", st)
			if wantConns == 0 && (st.Conns < 2 || st.IdleTimeouts < 1) {
				t.Errorf("no reconnection after an idle close: %+v", st)
			}
			if wantConns != 0 && (st.Conns != wantConns || st.ControlFrames != wantControls) {
				t.Errorf("conns %d, control frames %d; want %d, %d", st.Conns, st.ControlFrames, wantConns, wantControls)
			}
			if st.Malformed != 0 || st.Incomplete != 0 || st.OtherTypes != 0 || st.DNS.Malformed != 0 || st.Truncated != 0 ||
				st.ClientQueries != st.ClientResponses || st.DNS.UnmatchedResponses != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// answers reports whether the resolver answers a query.
func answers(t *testing.T, server string) bool {
	_, r, err := exchange(t, "udp", server, "ready.test.", mdns.TypeA)
	return err == nil && r.Rcode == mdns.RcodeSuccess
}
