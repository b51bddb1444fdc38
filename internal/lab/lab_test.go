package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// fetchEnv asks the test binary to GET the URL it names, print the body
// and exit: the lab's HTTP client for mxwatch's metrics endpoint, run with
// `ip netns exec` inside the bridge namespace the test process cannot
// reach.
const fetchEnv = "MXWATCH_LAB_FETCH"

func TestMain(m *testing.M) {
	if url := os.Getenv(fetchEnv); url != "" {
		os.Exit(fetch(url))
	}
	os.Exit(m.Run())
}

func fetch(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		return 1
	}
	defer resp.Body.Close()
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "fetch:", resp.Status)
		return 1
	}
	return 0
}

// The lab's addresses and names. Everything lives in 10.99.0.0/16, one
// flat segment on the bridge; the platform's hosts are 10.99.1.0/24.
const (
	platformNet = "10.99.1.0/24"
	dnsblZone   = "dnsbl.lab.test"
	metricsAddr = "127.0.0.1:9110"
	saslUser    = "lab"
	saslPass    = "lab-secret"
	labBudget   = 85 * time.Second
)

// node is one network namespace of the lab with its address and DNS name.
type node struct {
	role string // namespace suffix; the bridge-side veth is "v-" + role
	addr string
	name string
}

// The lab's hosts.
var (
	dnsNode    = node{"dns", "10.99.0.53", "ns.lab.test"}
	relayNode  = node{"relay", "10.99.1.10", "relay.platform.test"}
	webNode    = node{"web", "10.99.1.20", "web.platform.test"}
	badNode    = node{"blog", "10.99.1.30", "blog.platform.test"}
	appNode    = node{"app", "10.99.1.40", "app.platform.test"}
	officeNode = node{"office", "10.99.1.50", "office.platform.test"}
	mxANode    = node{"mxa", "10.99.2.11", "mx.dest-a.test"}
	mxBNode    = node{"mxb", "10.99.2.12", "mx.dest-b.test"}
	mxCNode    = node{"mxc", "10.99.2.13", "mx.dest-c.test"}
	smartNode  = node{"smarthost", "10.99.3.25", "smtp.smarthost.test"}
)

func labNodes() []node {
	return []node{dnsNode, relayNode, webNode, badNode, appNode, officeNode, mxANode, mxBNode, mxCNode, smartNode}
}

// requiredTools are the programs the lab runs (Debian packages iproute2,
// postfix, dnsmasq, php-cli, swaks, msmtp, sasl2-bin, libsasl2-modules,
// libnet-dns-perl, and Go).
var requiredTools = []string{"ip", "postfix", "postqueue", "dnsmasq", "php", "swaks", "msmtp", "saslpasswd2", "perl", "go"}

// lab is one running lab: its namespaces, files and processes.
type lab struct {
	t     *testing.T
	id    string
	dir   string
	tools map[string]string
	end   time.Time // every wait gives up here
	begin time.Time // for the phase log

	mu   sync.Mutex
	logs []string // files shown when the test fails
}

// TestLab builds the lab, sends mail the ways a hosting platform's hosts
// do, and checks the findings of `mxwatch capture` running live on the
// bridge.
func TestLab(t *testing.T) {
	l := newLab(t)
	bin := l.buildMxwatch()
	l.phase("mxwatch built")
	l.network()
	l.startDNS()
	l.phase("network and DNS up")

	relay := l.postfix(mta{node: relayNode, MyNetworks: "127.0.0.0/8 " + platformNet, Submission: true})
	mxA := l.postfix(mta{node: mxANode, Destination: "dest-a.test", ClientRestrictions: "reject_rbl_client " + dnsblZone})
	mxB := l.postfix(mta{node: mxBNode, Destination: "dest-b.test"})
	mxC := l.postfix(mta{node: mxCNode, Destination: "dest-c.test"})
	smart := l.postfix(mta{node: smartNode, SASL: true, Submission: true})
	l.startPostfix(relay, mxA, mxB, mxC, smart)
	l.phase("Postfix instances started")

	capture, events := l.startCapture(bin)
	l.phase("capture started")

	// The web host: PHP mail() through msmtp to the relay.
	msmtprc := filepath.Join(l.dir, "msmtprc")
	l.render("msmtprc.tmpl", msmtprc, 0o600, map[string]string{"Dir": l.dir, "Relay": relayNode.name, "Hostname": webNode.name})
	script, err := filepath.Abs("testdata/newsletter.php")
	if err != nil {
		t.Fatal(err)
	}
	l.addLog(filepath.Join(l.dir, "msmtp.log"))
	l.mustIn(webNode, l.tools["php"], "-n", "-d", "mail.add_x_header=On",
		"-d", "sendmail_path="+l.tools["msmtp"]+" -C "+msmtprc+" -t", script)

	// The compromised host: swaks without --server looks up the MX itself.
	// dest-a's MTA checks the DNSBL that lists the host; dest-c's does not.
	swaks := func(n node, args ...string) (string, error) {
		base := []string{l.tools["swaks"], "--from", "sender@" + n.name, "--helo", n.name, "--timeout", "15"}
		return l.runIn(n, append(base, args...)...)
	}
	out, err := swaks(badNode, "--to", "victim@dest-a.test", "--header", "Subject: cheap pills")
	if err == nil || !strings.Contains(out, "blocked using "+dnsblZone) {
		t.Fatalf("swaks to dest-a.test: want a rejection naming %s, got %v:\n%s", dnsblZone, err, out)
	}
	if out, err := swaks(badNode, "--to", "victim@dest-c.test", "--header", "Subject: cheap pills"); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	// A customer's application: an outside smarthost on port 25 with AUTH.
	if out, err := swaks(appNode, "--server", smartNode.name, "--port", "25", "--auth", "PLAIN",
		"--auth-user", saslUser, "--auth-password", saslPass, "--to", "orders@dest-c.test"); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	// An office PC: port 587 to the platform relay, and submission with
	// AUTH on 587 to the outside provider.
	if out, err := swaks(officeNode, "--server", relayNode.name, "--port", "587", "--to", "partner@dest-b.test"); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if out, err := swaks(officeNode, "--server", smartNode.name, "--port", "587", "--auth", "PLAIN",
		"--auth-user", saslUser, "--auth-password", saslPass, "--to", "court@dest-c.test"); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}

	l.phase("mail sent")
	// Every message has reached its destination: the relay delivered the
	// web host's and the office's mail, the smarthost the app's and the
	// office's.
	l.waitFor("relay and smarthost delivered everything", func() error {
		if n, m, k, j := relay.sent(), smart.sent(), mxB.received(), mxC.received(); n < 2 || m < 2 || k < 2 || j < 3 {
			return fmt.Errorf("relay sent %d/2, smarthost %d/2, dest-b received %d/2, dest-c %d/3", n, m, k, j)
		}
		if err := relay.queueEmpty(); err != nil {
			return err
		}
		return smart.queueEmpty()
	})
	// mxwatch has read every packet the kernel put into its ring.
	l.waitFor("mxwatch read every captured packet", func() error {
		read, ring, err := l.packetCounters()
		if err == nil && (ring == 0 || read < ring) {
			err = fmt.Errorf("read %d of %d packets in the ring", read, ring)
		}
		return err
	})
	l.phase("mail delivered and captured")
	if err := capture.stop(); err != nil {
		t.Fatalf("capture after SIGTERM: %v", err)
	}
	if log := l.readFile(capture.log); !strings.Contains(log, `msg="capture stopped"`) {
		t.Errorf("no stop summary in the capture log")
	}

	l.phase("capture stopped")
	if n := mxA.received(); n != 0 {
		t.Errorf("dest-a's MTA accepted %d messages; the DNSBL should have refused the only one", n)
	}
	findings, messages := readEvents(t, events)
	checkFindings(t, findings)
	checkMessages(t, messages)
}

// checkFindings asserts the class and evidence of every platform host's
// connections.
func checkFindings(t *testing.T, findings []*event.Finding) {
	t.Helper()
	platform := netip.MustParsePrefix(platformNet)
	seen := map[string]int{}
	for _, f := range findings {
		t.Logf("finding %v -> %v: %s (%s) %q customer=%q scripts=%v blocklist=%d accepted=%d rejected=%d",
			f.Client, f.Server, f.Class, f.Confidence, f.Reason, f.Customer, f.Scripts, len(f.Blocklist), f.Accepted, f.Rejected)
		if !platform.Contains(f.Client.Addr()) {
			t.Errorf("finding for %v, outside the platform networks", f.Client)
		}
		seen[f.Client.Addr().String()+" "+f.Server.String()]++
	}
	for _, tc := range []struct {
		name     string
		client   node
		server   string // address:port
		class    event.Class
		customer string
		check    func(t *testing.T, fs []*event.Finding)
	}{
		{
			name: "web host to relay, PHP script attributed", client: webNode, server: relayNode.addr + ":25",
			class: event.ClassRelay, customer: "webshop-gmbh",
			check: func(t *testing.T, fs []*event.Finding) {
				for _, f := range fs {
					if !hasPrefix(f.Scripts, "php:newsletter.php") {
						t.Errorf("scripts %q: want php:newsletter.php from X-PHP-Originating-Script", f.Scripts)
					}
				}
			},
		},
		{
			name: "relay to dest-b MX", client: relayNode, server: mxBNode.addr + ":25",
			class: event.ClassRelay, customer: "platform-relay",
			check: func(t *testing.T, fs []*event.Finding) {
				if n := sum(fs, func(f *event.Finding) int { return f.Accepted }); n != 2 {
					t.Errorf("relay delivered %d messages to dest-b, want 2 (web host's and office's)", n)
				}
			},
		},
		{
			name: "compromised host to DNSBL-checking MX", client: badNode, server: mxANode.addr + ":25",
			class: event.ClassDirectToMX, customer: "hacked-blog",
			check: func(t *testing.T, fs []*event.Finding) {
				for _, f := range fs {
					checkPairing(t, f, "dest-a.test", mxANode.name)
					if f.Accepted != 0 || f.Rejected != 1 {
						t.Errorf("accepted %d, rejected %d; want the message counted as rejected by the DNSBL", f.Accepted, f.Rejected)
					}
					var hit *event.BlocklistHit
					for i := range f.Blocklist {
						if strings.Contains(f.Blocklist[i].Text, "blocked using "+dnsblZone) {
							hit = &f.Blocklist[i]
						}
					}
					if hit == nil {
						t.Errorf("no blocklist hit naming %s: %+v", dnsblZone, f.Blocklist)
						continue
					}
					if hit.Type != "blocklist" || hit.List != dnsblZone || hit.Code != 554 || hit.Command != "RCPT" {
						t.Errorf("hit %+v: want type blocklist, list %s (the zone the reply names), 554 to RCPT", *hit, dnsblZone)
					}
					t.Logf("DNSBL rejection tagged: signature %q list %q reason %q text %q", hit.Signature, hit.List, hit.Reason, hit.Text)
				}
			},
		},
		{
			name: "compromised host to accepting MX", client: badNode, server: mxCNode.addr + ":25",
			class: event.ClassDirectToMX, customer: "hacked-blog",
			check: func(t *testing.T, fs []*event.Finding) {
				for _, f := range fs {
					checkPairing(t, f, "dest-c.test", mxCNode.name)
					if f.Accepted != 1 || len(f.Blocklist) != 0 {
						t.Errorf("accepted %d, blocklist %+v: want 1 and none", f.Accepted, f.Blocklist)
					}
					if !f.RelayBypass {
						t.Error("mail past the relay on port 25 is not flagged as relay bypass")
					}
				}
			},
		},
		{
			name: "application to smarthost with AUTH", client: appNode, server: smartNode.addr + ":25",
			class: event.ClassExternalRelay25, customer: "app-vendor",
			check: func(t *testing.T, fs []*event.Finding) {
				for _, f := range fs {
					if !f.Auth || f.ServerName != smartNode.name {
						t.Errorf("auth %v, server name %q: want AUTH seen and %s", f.Auth, f.ServerName, smartNode.name)
					}
				}
			},
		},
		{
			// The relay comes first: port 587 to the platform relay is relay.
			name: "office to relay on 587", client: officeNode, server: relayNode.addr + ":587",
			class: event.ClassRelay, customer: "law-office",
		},
		{
			name: "office submission on 587 to outside provider", client: officeNode, server: smartNode.addr + ":587",
			class: event.ClassSubmission, customer: "law-office",
			check: func(t *testing.T, fs []*event.Finding) {
				for _, f := range fs {
					if !f.Auth || f.Accepted != 1 {
						t.Errorf("auth %v, accepted %d: want AUTH and 1", f.Auth, f.Accepted)
					}
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fs []*event.Finding
			for _, f := range findings {
				if f.Client.Addr().String() == tc.client.addr && f.Server.String() == tc.server {
					fs = append(fs, f)
				}
			}
			delete(seen, tc.client.addr+" "+tc.server)
			if len(fs) == 0 {
				t.Fatalf("no finding for %s -> %s", tc.client.addr, tc.server)
			}
			for _, f := range fs {
				if f.Class != tc.class || f.Customer != tc.customer {
					t.Errorf("class %q customer %q (%s); want %q and %q", f.Class, f.Customer, f.Reason, tc.class, tc.customer)
				}
			}
			if tc.check != nil {
				tc.check(t, fs)
			}
		})
	}
	for k, n := range seen {
		t.Errorf("%d unexpected findings for %s", n, k)
	}
}

// checkPairing asserts that a direct-to-MX finding pairs with the client's
// own MX lookup of domain.
func checkPairing(t *testing.T, f *event.Finding, domain, mxHost string) {
	t.Helper()
	p := f.Pairing
	if p == nil {
		t.Errorf("no pairing")
		return
	}
	if p.By != "self" || p.Domain != domain || p.MXHost != mxHost || f.Confidence != event.ConfidenceHigh ||
		p.Resolver.String() != dnsNode.addr || p.Delay < 0 {
		t.Errorf("pairing %+v, confidence %s: want the client's own MX lookup of %s (%s) at %s", *p, f.Confidence, domain, mxHost, dnsNode.addr)
	}
}

// checkMessages asserts what the message events carry of the PHP header
// and the DNSBL rejection.
func checkMessages(t *testing.T, messages []*event.Message) {
	t.Helper()
	var php, rejected bool
	for _, m := range messages {
		if m.Client.Addr().String() == webNode.addr && m.PHPScriptPath == "newsletter.php" && m.PHPScriptUID != "" {
			php = true
		}
		if m.Client.Addr().String() != badNode.addr || m.Server.Addr().String() != mxANode.addr {
			continue
		}
		t.Logf("message to the DNSBL-checking MX: outcome %q, recipients %+v, final %+v", m.Outcome, m.Recipients, m.Final)
		for _, r := range m.Recipients {
			if r.Addr == "victim@dest-a.test" && r.Code == 554 && r.Enhanced == "5.7.1" {
				rejected = true
			}
		}
	}
	if !php {
		t.Error("no message of the web host with X-PHP-Originating-Script uid:newsletter.php")
	}
	if !rejected {
		t.Error("no message of the compromised host whose recipient got 554 5.7.1")
	}
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func sum(fs []*event.Finding, f func(*event.Finding) int) int {
	n := 0
	for _, x := range fs {
		n += f(x)
	}
	return n
}

// readEvents reads the findings and messages of a JSON Lines events file.
func readEvents(t *testing.T, file string) ([]*event.Finding, []*event.Message) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var findings []*event.Finding
	var messages []*event.Message
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		ev, err := event.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("event %s: %v", sc.Bytes(), err)
		}
		switch ev := ev.(type) {
		case *event.Finding:
			findings = append(findings, ev)
		case *event.Message:
			messages = append(messages, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return findings, messages
}

// newLab checks the prerequisites (skipping without them) and prepares
// the lab's directory; every later step registers its own cleanup.
func newLab(t *testing.T) *lab {
	if os.Getenv("MXWATCH_LAB") == "0" {
		t.Skip("MXWATCH_LAB=0")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the lab needs Linux network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (network namespaces, Postfix instances, live capture)")
	}
	tools := map[string]string{}
	var missing []string
	for _, name := range requiredTools {
		p, err := exec.LookPath(name)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin"} {
				if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
					p, err = filepath.Join(dir, name), nil
				}
			}
		}
		if err != nil {
			missing = append(missing, name)
			continue
		}
		tools[name] = p
	}
	if len(missing) > 0 {
		t.Skipf("the lab needs %s (Debian: apt-get install iproute2 postfix dnsmasq php-cli swaks msmtp sasl2-bin libsasl2-modules libnet-dns-perl, and Go)", strings.Join(missing, ", "))
	}
	if err := exec.Command(tools["perl"], "-MNet::DNS", "-e", "1").Run(); err != nil {
		t.Skip("swaks needs Net::DNS (libnet-dns-perl) to look up MX records")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	dir, err := os.MkdirTemp("", "mxwatch-lab-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// Postfix's unprivileged daemons must reach their queue and config.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, id: hex.EncodeToString(b), dir: dir, tools: tools, begin: time.Now(), end: time.Now().Add(labBudget)}
	if _, err := os.Stat("/etc/netns"); errors.Is(err, os.ErrNotExist) {
		t.Cleanup(func() { _ = os.Remove("/etc/netns") }) // only if empty
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, f := range l.logs {
				t.Logf("--- %s ---\n%s", f, tail(l.readFile(f), 16<<10))
			}
		}
	})
	return l
}

// phase logs the time since the test began.
func (l *lab) phase(what string) {
	l.t.Logf("%6.1fs %s", time.Since(l.begin).Seconds(), what)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}

func (l *lab) addLog(file string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logs = append(l.logs, file)
}

func (l *lab) readFile(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// ns names the namespace of a role; the random id keeps parallel runs
// apart.
func (l *lab) ns(role string) string { return "mxl" + l.id + "-" + role }

// run runs a command to completion (at most 30 s) and returns its
// combined output.
func (l *lab) run(name string, args ...string) (string, error) {
	return l.runTimeout(30*time.Second, name, args...)
}

func (l *lab) runTimeout(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

func (l *lab) must(name string, args ...string) string {
	l.t.Helper()
	out, err := l.run(name, args...)
	if err != nil {
		l.t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// runIn runs a command inside a node's namespace (with its resolv.conf).
func (l *lab) runIn(n node, args ...string) (string, error) {
	return l.run(l.tools["ip"], append([]string{"netns", "exec", l.ns(n.role)}, args...)...)
}

func (l *lab) mustIn(n node, args ...string) string {
	l.t.Helper()
	out, err := l.runIn(n, args...)
	if err != nil {
		l.t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// waitFor polls cond until it returns nil or the lab's time is up; cond's
// error says what is still missing.
func (l *lab) waitFor(what string, cond func() error) {
	l.t.Helper()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(l.end) {
			l.t.Fatalf("timed out waiting: %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// render executes a template of testdata into a file.
func (l *lab) render(tmpl, dst string, perm os.FileMode, data any) {
	l.t.Helper()
	tp, err := template.ParseFiles(filepath.Join("testdata", tmpl))
	if err != nil {
		l.t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tp.Execute(&b, data); err != nil {
		l.t.Fatalf("%s: %v", tmpl, err)
	}
	if err := os.WriteFile(dst, b.Bytes(), perm); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) buildMxwatch() string {
	l.t.Helper()
	bin := filepath.Join(l.dir, "mxwatch")
	// The build (with a cold cache, minutes) is not part of the lab's time.
	if out, err := l.runTimeout(5*time.Minute, l.tools["go"], "build", "-o", bin, "github.com/mxwatch/mxwatch/cmd/mxwatch"); err != nil {
		l.t.Fatalf("%v\n%s", err, out)
	}
	l.end = time.Now().Add(labBudget)
	return bin
}

// network creates the bridge namespace and one namespace per node, each
// joined to the bridge by a veth pair, with a resolv.conf naming the lab's
// DNS server.
func (l *lab) network() {
	l.t.Helper()
	br := l.addNS("br")
	l.must(l.tools["ip"], "-n", br, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
	l.must(l.tools["ip"], "-n", br, "link", "set", "br0", "promisc", "on", "up")
	for _, n := range labNodes() {
		ns := l.addNS(n.role)
		veth := "v-" + n.role
		l.must(l.tools["ip"], "-n", br, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.must(l.tools["ip"], "-n", br, "link", "set", veth, "master", "br0", "up")
		l.must(l.tools["ip"], "-n", ns, "addr", "add", n.addr+"/16", "dev", "eth0")
		l.must(l.tools["ip"], "-n", ns, "link", "set", "eth0", "up")
	}
}

// addNS creates a namespace with its /etc/netns directory and registers
// their removal, after killing whatever still runs inside.
func (l *lab) addNS(role string) string {
	l.t.Helper()
	name := l.ns(role)
	etc := filepath.Join("/etc/netns", name)
	l.t.Cleanup(func() { _ = os.RemoveAll(etc) })
	if err := os.MkdirAll(etc, 0o755); err != nil {
		l.t.Fatal(err)
	}
	resolv := fmt.Sprintf("nameserver %s\noptions timeout:2 attempts:2\n", dnsNode.addr)
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		l.t.Fatal(err)
	}
	l.must(l.tools["ip"], "netns", "add", name)
	l.t.Cleanup(func() { l.deleteNS(name) })
	l.must(l.tools["ip"], "-n", name, "link", "set", "lo", "up")
	return name
}

// deleteNS kills the processes left in a namespace (all of them the
// lab's) and deletes it.
func (l *lab) deleteNS(name string) {
	for range 50 {
		out, _ := exec.Command(l.tools["ip"], "netns", "pids", name).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond) // the kernel reaps them
	}
	if out, err := exec.Command(l.tools["ip"], "netns", "del", name).CombinedOutput(); err != nil {
		l.t.Logf("ip netns del %s: %v: %s", name, err, out)
	}
}

// proc is a long-running process of the lab.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start starts a long-running process in a node's namespace with its
// output in logFile; it is killed when the test ends.
func (l *lab) start(role, logFile string, args ...string) *proc {
	l.t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		l.t.Fatal(err)
	}
	l.addLog(logFile)
	cmd := exec.Command(l.tools["ip"], append([]string{"netns", "exec", l.ns(role)}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		l.t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	l.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits (at most 20 s) for the exit.
func (p *proc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("sigterm: %w", err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(20 * time.Second):
		return errors.New("still running 20 s after SIGTERM")
	}
}

type dnsRecord struct{ Name, Addr string }

type mxRecord struct{ Domain, Host string }

// startDNS runs dnsmasq with the lab's zones and waits until it serves.
func (l *lab) startDNS() {
	l.t.Helper()
	dir := filepath.Join(l.dir, "dns")
	if err := os.Mkdir(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	var hosts []dnsRecord
	for _, n := range labNodes() {
		hosts = append(hosts, dnsRecord{n.name, n.addr})
	}
	a := strings.Split(badNode.addr, ".")
	conf := filepath.Join(dir, "dnsmasq.conf")
	l.render("dnsmasq.conf.tmpl", conf, 0o644, map[string]any{
		"Addr": dnsNode.addr, "Dir": dir, "Hosts": hosts, "Zone": dnsblZone,
		"MX":     []mxRecord{{"dest-a.test", mxANode.name}, {"dest-b.test", mxBNode.name}, {"dest-c.test", mxCNode.name}},
		"Listed": a[3] + "." + a[2] + "." + a[1] + "." + a[0],
	})
	p := l.start(dnsNode.role, filepath.Join(dir, "dnsmasq.log"), l.tools["dnsmasq"], "--keep-in-foreground", "--conf-file="+conf)
	l.waitFor("dnsmasq started", func() error {
		if p.exited() {
			return fmt.Errorf("dnsmasq exited: %w", p.err)
		}
		if !strings.Contains(l.readFile(p.log), "started, version") {
			return errors.New("not yet")
		}
		return nil
	})
}

// mta describes a Postfix instance; the exported fields fill main.cf.tmpl
// and master.cf.tmpl. Dir holds the instance's files: conf/ (its
// config_directory, with sasl/smtpd.conf), queue/, data/, sasldb2 and
// maillog. The queue
// is not inside conf/: postfix start would warn about every queue
// directory not owned by root, one slow process each.
type mta struct {
	node
	Dir                string
	MyNetworks         string
	Destination        string
	ClientRestrictions string
	SASL, Submission   bool
}

// Fields of the templates that come from the node.
func (m mta) Role() string     { return m.role }
func (m mta) Hostname() string { return m.name }
func (m mta) Addr() string     { return m.addr }

// Conf is the instance's config_directory.
func (m mta) Conf() string { return filepath.Join(m.Dir, "conf") }

// instance is a running Postfix instance.
type instance struct {
	l *lab
	mta
}

// postfix writes an instance's configuration in its own directory.
func (l *lab) postfix(m mta) *instance {
	l.t.Helper()
	m.Dir = filepath.Join(l.dir, "postfix-"+m.role)
	if m.MyNetworks == "" {
		m.MyNetworks = "127.0.0.0/8"
	}
	for _, d := range []string{m.Dir, m.Conf(), filepath.Join(m.Dir, "queue")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			l.t.Fatal(err)
		}
	}
	l.render("main.cf.tmpl", filepath.Join(m.Conf(), "main.cf"), 0o644, m)
	l.render("master.cf.tmpl", filepath.Join(m.Conf(), "master.cf"), 0o644, m)
	if m.SASL {
		if err := os.Mkdir(filepath.Join(m.Conf(), "sasl"), 0o755); err != nil {
			l.t.Fatal(err)
		}
		l.render("smtpd.conf.tmpl", filepath.Join(m.Conf(), "sasl", "smtpd.conf"), 0o644, m)
		db := filepath.Join(m.Dir, "sasldb2")
		cmd := exec.Command(l.tools["saslpasswd2"], "-p", "-c", "-f", db, "-u", m.name, saslUser)
		cmd.Stdin = strings.NewReader(saslPass)
		if out, err := cmd.CombinedOutput(); err != nil {
			l.t.Fatalf("saslpasswd2: %v: %s", err, out)
		}
		if err := os.Chmod(db, 0o644); err != nil { // read by smtpd as user postfix
			l.t.Fatal(err)
		}
	}
	l.addLog(filepath.Join(m.Dir, "maillog"))
	l.t.Cleanup(func() {
		if out, err := l.runIn(m.node, l.tools["postfix"], "-c", m.Conf(), "stop"); err != nil {
			l.t.Logf("%v: %s", err, out)
		}
	})
	return &instance{l: l, mta: m}
}

// startPostfix starts the instances, each inside its node's namespace, at
// the same time (postfix start checks its files with many small processes:
// seconds on a busy machine). postfix start returns once the master has
// opened its listeners.
func (l *lab) startPostfix(instances ...*instance) {
	l.t.Helper()
	errs := make([]error, len(instances))
	var wg sync.WaitGroup
	for i, in := range instances {
		wg.Go(func() {
			if out, err := l.runTimeout(time.Minute, l.tools["ip"], "netns", "exec", l.ns(in.role), l.tools["postfix"], "-c", in.Conf(), "start"); err != nil {
				errs[i] = fmt.Errorf("%w\n%s", err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		l.t.Fatal(err)
	}
}

func (in *instance) maillog() string { return in.l.readFile(filepath.Join(in.Dir, "maillog")) }

// sent counts the deliveries the instance's SMTP client completed.
func (in *instance) sent() int {
	return in.countLog(func(line string) bool {
		return strings.Contains(line, "status=sent") && strings.Contains(line, "]:25,")
	})
}

// received counts the messages the instance accepted and discarded.
func (in *instance) received() int {
	return in.countLog(func(line string) bool {
		return strings.Contains(line, "status=sent") && strings.Contains(line, "relay=none")
	})
}

func (in *instance) countLog(match func(string) bool) int {
	n := 0
	for _, line := range strings.Split(in.maillog(), "\n") {
		if match(line) {
			n++
		}
	}
	return n
}

// queueEmpty returns nil when the instance's queue is empty.
func (in *instance) queueEmpty() error {
	out, err := in.l.runIn(in.node, in.l.tools["postqueue"], "-c", in.Conf(), "-p")
	if err != nil || !strings.Contains(out, "Mail queue is empty") {
		return fmt.Errorf("%s queue: %v: %s", in.role, err, tail(out, 500))
	}
	return nil
}

// startCapture runs `mxwatch capture` on the bridge and waits until it
// captures; it returns the process and the events file.
func (l *lab) startCapture(bin string) (*proc, string) {
	l.t.Helper()
	inv, err := filepath.Abs("testdata/inventory.csv")
	if err != nil {
		l.t.Fatal(err)
	}
	cfg := filepath.Join(l.dir, "mxwatch.yaml")
	l.render("mxwatch.yaml.tmpl", cfg, 0o644, map[string]string{
		"Platform": platformNet, "RelayAddr": relayNode.addr, "RelayName": relayNode.name,
		"Smarthost": smartNode.name, "Inventory": inv, "Metrics": metricsAddr,
	})
	events := filepath.Join(l.dir, "events.jsonl")
	p := l.start("br", filepath.Join(l.dir, "mxwatch.log"), bin, "capture", "--config", cfg, "-i", "br0",
		"--events", events, "--log-level", "debug")
	l.waitFor("mxwatch capturing", func() error {
		if p.exited() {
			return fmt.Errorf("mxwatch capture exited: %w", p.err)
		}
		if !strings.Contains(l.readFile(p.log), "msg=capturing") {
			return errors.New("not yet")
		}
		return nil
	})
	return p, events
}

// packetCounters reads mxwatch's metrics: packets its engine read and
// packets the kernel put into its ring.
func (l *lab) packetCounters() (read, ring uint64, err error) {
	cmd := exec.Command(l.tools["ip"], "netns", "exec", l.ns("br"), os.Args[0])
	cmd.Env = append(os.Environ(), fetchEnv+"=http://"+metricsAddr+"/metrics")
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("metrics: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "mxwatch_stage_events_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch labels := line[:i]; {
		case strings.Contains(labels, `name="packets"`) && strings.Contains(labels, `stage="read"`):
			read += uint64(v)
		case strings.Contains(labels, `name="ring_packets"`) && strings.Contains(labels, `stage="capture"`):
			ring += uint64(v)
		}
	}
	return read, ring, nil
}
