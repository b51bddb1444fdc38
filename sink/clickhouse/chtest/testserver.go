// Package chtest owns the throw-away ClickHouse server that tests run
// against: it writes a minimal configuration into a temporary directory,
// starts Debian's clickhouse-server binary on free loopback ports, waits
// until the native protocol answers and stops the server when the test ends.
//
// It starts one goroutine per server process, which waits for the process
// to exit so that Stop can bound how long it waits.
package chtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Bounds of the harness.
const (
	// StartTimeout bounds the wait for the server to answer SELECT 1.
	StartTimeout = 60 * time.Second
	// StopTimeout bounds the wait after SIGTERM before SIGKILL.
	StopTimeout = 15 * time.Second
)

// binaries are the names tried, in order, to find the server.
var binaries = []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"}

// Server is a running clickhouse-server subprocess with its own data
// directory. It is not safe for concurrent use.
type Server struct {
	// Addr is host:port of the native protocol (tcp_port).
	Addr string
	// HTTPAddr is host:port of the HTTP interface.
	HTTPAddr string
	// Version is what SELECT version() answered, e.g. "18.16.1".
	Version string
	// Dir is the temporary directory holding config, data and logs.
	Dir string

	t    testing.TB
	opt  Options
	bin  string
	cmd  *exec.Cmd
	done chan struct{}
	out  *os.File
}

// Options change the test server's configuration.
type Options struct {
	// UsersD holds extra users configuration files, file name to XML,
	// written into users.d/ next to users.xml, which the server merges
	// into it (profiles and users of a deployment, for example).
	UsersD map[string]string
	// Env is added to the server's environment ("NAME=value"), for
	// from_env substitutions in those files.
	Env []string
}

// Start starts a server for t and registers its Stop with t.Cleanup. It
// skips the test when the binary is not installed and fails it when the
// server does not answer within StartTimeout (with the tail of its logs).
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with extra configuration.
func StartWith(t testing.TB, opt Options) *Server {
	t.Helper()
	bin := ""
	for _, b := range binaries {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("install clickhouse-server (apt) to run")
	}
	dir := t.TempDir()
	tcpPort, err := freePort()
	if err != nil {
		t.Fatalf("chtest: %v", err)
	}
	httpPort, err := freePort()
	if err != nil {
		t.Fatalf("chtest: %v", err)
	}
	s := &Server{
		Addr:     net.JoinHostPort("127.0.0.1", fmt.Sprint(tcpPort)),
		HTTPAddr: net.JoinHostPort("127.0.0.1", fmt.Sprint(httpPort)),
		Dir:      dir,
		t:        t,
		opt:      opt,
		bin:      bin,
	}
	if err := s.writeConfig(tcpPort, httpPort); err != nil {
		t.Fatalf("chtest: %v", err)
	}
	t.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		t.Fatalf("chtest: %v", err)
	}
	return s
}

// Stop terminates the server: SIGTERM, then SIGKILL after StopTimeout. It
// is safe to call more than once.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(StopTimeout)
	defer timer.Stop()
	select {
	case <-s.done:
	case <-timer.C:
		s.t.Logf("chtest: server did not stop in %v, killing it", StopTimeout)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.out != nil {
		_ = s.out.Close()
		s.out = nil
	}
	s.cmd = nil
}

// Restart stops the server and starts it again on the same ports with the
// same data directory, and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("chtest: restart: %v", err)
	}
}

func (s *Server) start() error {
	out, err := os.OpenFile(filepath.Join(s.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("server output: %w", err)
	}
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.Dir, "config.xml"))
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), s.opt.Env...)
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so a ^C of the test does not hit it first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done, s.out = cmd, done, out
	v, err := s.waitReady()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, s.logTail())
	}
	s.Version = v
	return nil
}

var errExited = errors.New("clickhouse-server exited during start-up")

// waitReady polls SELECT version() on the native port until it answers,
// the process exits, or StartTimeout passes.
func (s *Server) waitReady() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	var last error
	for {
		v, err := s.query(ctx)
		if err == nil {
			return v, nil
		}
		last = err
		select {
		case <-s.done:
			return "", errExited
		case <-ctx.Done():
			return "", fmt.Errorf("server at %s did not answer within %v: %w", s.Addr, StartTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) query(ctx context.Context) (string, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{s.Addr},
		DialTimeout: 2 * time.Second,
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var one uint8
	if err := conn.QueryRow(qctx, "SELECT 1").Scan(&one); err != nil {
		return "", err
	}
	var v string
	if err := conn.QueryRow(qctx, "SELECT version()").Scan(&v); err != nil {
		return "", err
	}
	return v, nil
}

// logTail returns the last lines of the server's logs for failure messages.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, name := range []string{"stdout.log", "server.err.log", "server.log"} {
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// freePort asks the kernel for a free loopback TCP port. The port is
// released before the server binds it; a collision shows up as a start-up
// failure with the log tail.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig(tcpPort, httpPort int) error {
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	p := func(name string) string { return filepath.Join(s.Dir, name) + "/" }
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>%s</log>
    <errorlog>%s</errorlog>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%d</tcp_port>
  <http_port>%d</http_port>
  <path>%s</path>
  <tmp_path>%s</tmp_path>
  <user_files_path>%s</user_files_path>
  <format_schema_path>%s</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <timezone>UTC</timezone>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mlock_executable>false</mlock_executable>
</yandex>
`, filepath.Join(s.Dir, "server.log"), filepath.Join(s.Dir, "server.err.log"), tcpPort, httpPort,
		p("data"), p("tmp"), p("user_files"), p("format_schemas"))
	users := `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
`
	if err := os.WriteFile(filepath.Join(s.Dir, "config.xml"), []byte(config), 0o644); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "users.xml"), []byte(users), 0o644); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(s.opt.UsersD) == 0 {
		return nil
	}
	usersD := filepath.Join(s.Dir, "users.d")
	if err := os.MkdirAll(usersD, 0o755); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for name, xml := range s.opt.UsersD {
		if filepath.Base(name) != name || !strings.HasSuffix(name, ".xml") {
			return fmt.Errorf("config: users.d file name %q: want a plain name ending in .xml", name)
		}
		if err := os.WriteFile(filepath.Join(usersD, name), []byte(xml), 0o644); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}
