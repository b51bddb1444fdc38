package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Paths, relative to this package's directory.
const (
	composePath    = "../docker-compose.yml"
	dockerfilePath = "../Dockerfile"
	ignorePath     = "../.dockerignore"
	envExamplePath = "env.example"
	mxwatchPath    = "mxwatch.yaml"
	alertmgrPath   = "alertmanager.yml"
	exampleConfig  = "../cmd/mxwatch/mxwatch.example.yaml"
	goModPath      = "../go.mod"
)

// wantServices are the services of the stack.
var wantServices = []string{
	"alertmanager", "clickhouse", "grafana", "kafka",
	"mxwatch-capture", "mxwatch-migrate", "mxwatch-sink",
}

// noHealthcheck lists the long-running services that are documented (in a
// comment on their disabled healthcheck) as having none, and why.
// (None today: sink and capture are probed with `mxwatch healthcheck`.)
var noHealthcheck = map[string]string{}

// wantDependsOn is the start order: service -> dependency -> condition.
var wantDependsOn = map[string]map[string]string{
	"mxwatch-migrate": {"clickhouse": "service_healthy"},
	"mxwatch-sink": {
		"kafka":           "service_healthy",
		"clickhouse":      "service_healthy",
		"mxwatch-migrate": "service_completed_successfully",
	},
	"grafana": {"clickhouse": "service_healthy", "alertmanager": "service_healthy"},
}

// wantBinds are bind mounts that must exist: service -> container path ->
// host path relative to the compose file.
var wantBinds = map[string]map[string]string{
	"grafana": {
		"/etc/grafana/provisioning":           "dashboards/grafana/provisioning",
		"/var/lib/grafana/dashboards/mxwatch": "dashboards/grafana/dashboards",
	},
	"alertmanager":    {"/etc/alertmanager/alertmanager.yml": "deploy/alertmanager.yml"},
	"clickhouse":      {"/etc/clickhouse-server/users.d/mxwatch-roles.xml": rolesFile},
	"mxwatch-migrate": {"/etc/mxwatch/mxwatch.yaml": "deploy/mxwatch.yaml"},
	"mxwatch-sink":    {"/etc/mxwatch/mxwatch.yaml": "deploy/mxwatch.yaml"},
	"mxwatch-capture": {"/etc/mxwatch/mxwatch.yaml": "deploy/mxwatch.yaml"},
}

// composeFile is the part of the Compose specification the checks read. Its
// field types accept both the short syntax written in docker-compose.yml
// and the long syntax `docker compose config` (v2) prints.
type composeFile struct {
	Version  string             `yaml:"version"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image           string                `yaml:"image"`
	Build           any                   `yaml:"build"`
	Command         stringList            `yaml:"command"`
	Restart         string                `yaml:"restart"`
	DependsOn       map[string]dependency `yaml:"depends_on"`
	Healthcheck     *healthcheck          `yaml:"healthcheck"`
	NetworkMode     string                `yaml:"network_mode"`
	CapAdd          []string              `yaml:"cap_add"`
	Privileged      bool                  `yaml:"privileged"`
	Profiles        []string              `yaml:"profiles"`
	Volumes         []mount               `yaml:"volumes"`
	Ports           []port                `yaml:"ports"`
	Environment     envMap                `yaml:"environment"`
	StopGracePeriod string                `yaml:"stop_grace_period"`
	User            string                `yaml:"user"`
}

type dependency struct {
	Condition string `yaml:"condition"`
}

type healthcheck struct {
	Test    stringList `yaml:"test"`
	Disable bool       `yaml:"disable"`
}

// disabled reports a healthcheck turned off: "disable: true", or test
// ["NONE"] as docker-compose v1 renders it.
func (h *healthcheck) disabled() bool {
	return h.Disable || (len(h.Test) > 0 && h.Test[0] == "NONE")
}

// stringList is a command or test: a list, or a string split on spaces.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = strings.Fields(n.Value)
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a string or a list: %w", n.Line, err)
	}
	*l = s
	return nil
}

// envMap is "environment" as a mapping or as a list of NAME=value.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	m := envMap{}
	switch n.Kind {
	case yaml.SequenceNode:
		var items []string
		if err := n.Decode(&items); err != nil {
			return fmt.Errorf("line %d: environment: %w", n.Line, err)
		}
		for _, it := range items {
			k, v, _ := strings.Cut(it, "=")
			m[k] = v
		}
	default:
		var raw map[string]any
		if err := n.Decode(&raw); err != nil {
			return fmt.Errorf("line %d: environment: %w", n.Line, err)
		}
		for k, v := range raw {
			if v == nil {
				m[k] = ""
			} else {
				m[k] = fmt.Sprint(v)
			}
		}
	}
	*e = m
	return nil
}

// mount is one entry of a service's volumes.
type mount struct {
	Bind     bool   // a host path, not a named volume
	Source   string // host path or volume name
	Target   string
	ReadOnly bool
}

func (m *mount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("line %d: volume %q: want SOURCE:TARGET[:MODE]", n.Line, n.Value)
		}
		m.Source, m.Target = parts[0], parts[1]
		m.Bind = strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, "~")
		m.ReadOnly = len(parts) == 3 && slices.Contains(strings.Split(parts[2], ","), "ro")
		return nil
	}
	var long struct {
		Type     string `yaml:"type"`
		Source   string `yaml:"source"`
		Target   string `yaml:"target"`
		ReadOnly bool   `yaml:"read_only"`
	}
	if err := n.Decode(&long); err != nil {
		return fmt.Errorf("line %d: volume: %w", n.Line, err)
	}
	*m = mount{Bind: long.Type == "bind", Source: long.Source, Target: long.Target, ReadOnly: long.ReadOnly}
	return nil
}

// port is one published port.
type port struct {
	HostIP    string
	Published string
	Target    string
}

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		spec, _, _ := strings.Cut(n.Value, "/")
		parts := strings.Split(spec, ":")
		switch len(parts) {
		case 1:
			p.Target = parts[0]
		case 2:
			p.Published, p.Target = parts[0], parts[1]
		case 3:
			p.HostIP, p.Published, p.Target = parts[0], parts[1], parts[2]
		default:
			return fmt.Errorf("line %d: port %q: want [IP:]HOST:CONTAINER", n.Line, n.Value)
		}
		return nil
	}
	var long struct {
		HostIP    string `yaml:"host_ip"`
		Published any    `yaml:"published"`
		Target    any    `yaml:"target"`
	}
	if err := n.Decode(&long); err != nil {
		return fmt.Errorf("line %d: port: %w", n.Line, err)
	}
	*p = port{HostIP: long.HostIP, Published: fmt.Sprint(long.Published), Target: fmt.Sprint(long.Target)}
	return nil
}

// stack is a parsed compose file and where its relative paths start.
type stack struct {
	dir  string // directory of docker-compose.yml
	file composeFile
	// root is the raw document (comments kept); nil for docker-compose
	// output, which has no comments.
	root *yaml.Node
}

// interpolate expands Compose variables in s: $$ is a literal $, ${NAME},
// $NAME, ${NAME:-default} (unset or empty), ${NAME-default} (unset),
// ${NAME:?message} and ${NAME?message} (an error when missing). lookup
// reports a variable's value and whether it is set; seen, when not nil, is
// called with every variable and its default ("" and false without one).
func interpolate(s string, lookup func(string) (string, bool), seen func(name, def string, hasDef bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("%q: lone $ at the end", s)
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
			continue
		case next == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("%q: unterminated ${", s)
			}
			expr := s[i+2 : i+2+end]
			i += 2 + end
			v, err := expand(expr, lookup, seen)
			if err != nil {
				return "", fmt.Errorf("%q: %w", s, err)
			}
			b.WriteString(v)
		case isNameByte(next, true):
			j := i + 1
			for j < len(s) && isNameByte(s[j], j == i+1) {
				j++
			}
			name := s[i+1 : j]
			if seen != nil {
				seen(name, "", false)
			}
			v, _ := lookup(name)
			b.WriteString(v)
			i = j - 1
		default:
			return "", fmt.Errorf("%q: $ not followed by a name or {", s)
		}
	}
	return b.String(), nil
}

// expand evaluates the inside of one ${...}.
func expand(expr string, lookup func(string) (string, bool), seen func(string, string, bool)) (string, error) {
	n := 0
	for n < len(expr) && isNameByte(expr[n], n == 0) {
		n++
	}
	name, op := expr[:n], expr[n:]
	if name == "" {
		return "", fmt.Errorf("${%s}: no variable name", expr)
	}
	v, set := lookup(name)
	var def string
	var hasDef bool
	defer func() {
		if seen != nil {
			seen(name, def, hasDef)
		}
	}()
	switch {
	case op == "":
		return v, nil
	case strings.HasPrefix(op, ":-"):
		def, hasDef = op[2:], true
		if v == "" {
			return def, nil
		}
		return v, nil
	case strings.HasPrefix(op, "-"):
		def, hasDef = op[1:], true
		if !set {
			return def, nil
		}
		return v, nil
	case strings.HasPrefix(op, ":?"):
		if v == "" {
			return "", fmt.Errorf("${%s}: %s is required: %s", expr, name, op[2:])
		}
		return v, nil
	case strings.HasPrefix(op, "?"):
		if !set {
			return "", fmt.Errorf("${%s}: %s is required: %s", expr, name, op[1:])
		}
		return v, nil
	}
	return "", fmt.Errorf("${%s}: unsupported operator %q", expr, op)
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9')
}

// interpolateNode expands the variables of every scalar below n in place.
func interpolateNode(n *yaml.Node, lookup func(string) (string, bool), seen func(string, string, bool)) error {
	if n.Kind == yaml.ScalarNode {
		v, err := interpolate(n.Value, lookup, seen)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		n.Value = v
		return nil
	}
	for _, c := range n.Content {
		if err := interpolateNode(c, lookup, seen); err != nil {
			return err
		}
	}
	return nil
}

// varRef is one use of a variable in the compose file.
type varRef struct {
	def    string
	hasDef bool
}

// parseCompose parses compose YAML as Compose would with an empty
// environment and no .env file: every variable takes its default. It also
// returns every variable referenced, with the defaults given.
func parseCompose(data []byte, dir string) (*stack, map[string][]varRef, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse compose file: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, nil, errors.New("parse compose file: empty document")
	}
	// A second parse keeps the text as written (aliases included) for the
	// checks of comments and variables.
	var raw yaml.Node
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("parse compose file: %w", err)
	}
	refs := map[string][]varRef{}
	none := func(string) (string, bool) { return "", false }
	seen := func(name, def string, hasDef bool) { refs[name] = append(refs[name], varRef{def, hasDef}) }
	if err := interpolateNode(&doc, none, seen); err != nil {
		return nil, nil, fmt.Errorf("interpolate compose file: %w", err)
	}
	s := &stack{dir: dir, root: &raw}
	if err := doc.Decode(&s.file); err != nil {
		return nil, nil, fmt.Errorf("decode compose file: %w", err)
	}
	return s, refs, nil
}

// mapValue returns the value of key in mapping node m, and the key node.
func mapValue(m *yaml.Node, key string) (val, k *yaml.Node) {
	if m == nil {
		return nil, nil
	}
	if m.Kind == yaml.DocumentNode && len(m.Content) > 0 {
		m = m.Content[0]
	}
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1], m.Content[i]
		}
	}
	return nil, nil
}

// repoPath resolves a host path of the compose file to an absolute one.
func (s *stack) repoPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(s.dir, p)
}

// check is one structural rule of the stack; it returns the problems found.
type check struct {
	name string
	run  func(s *stack) []string
}

// stackChecks apply both to docker-compose.yml as written and to
// docker-compose's rendering of it.
var stackChecks = []check{
	{name: "services", run: func(s *stack) []string {
		var got []string
		for name := range s.file.Services {
			got = append(got, name)
		}
		sort.Strings(got)
		if !slices.Equal(got, wantServices) {
			return []string{fmt.Sprintf("services are %v, want %v", got, wantServices)}
		}
		return nil
	}},
	{name: "healthchecks", run: func(s *stack) []string {
		var p []string
		for name, svc := range s.file.Services {
			oneShot := svc.Restart == "no"
			h := svc.Healthcheck
			switch {
			case oneShot:
			case h == nil:
				p = append(p, fmt.Sprintf("%s: no healthcheck (add one, or disable it with a comment and list it in noHealthcheck)", name))
			case h.disabled():
				if _, ok := noHealthcheck[name]; !ok {
					p = append(p, fmt.Sprintf("%s: healthcheck disabled but not documented as not needing one", name))
				}
				if s.root != nil {
					svcNode, _ := mapValue(mustMap(s.root, "services"), name)
					if _, key := mapValue(svcNode, "healthcheck"); key == nil || strings.TrimSpace(key.HeadComment+key.LineComment) == "" {
						p = append(p, fmt.Sprintf("%s: disabled healthcheck without a comment saying why", name))
					}
				}
			case len(h.Test) == 0:
				p = append(p, fmt.Sprintf("%s: healthcheck without a test", name))
			}
		}
		return p
	}},
	{name: "depends_on", run: func(s *stack) []string {
		var p []string
		for name, want := range wantDependsOn {
			got := s.file.Services[name].DependsOn
			for dep, cond := range want {
				if got[dep].Condition != cond {
					p = append(p, fmt.Sprintf("%s: depends_on %s condition %q, want %q", name, dep, got[dep].Condition, cond))
				}
			}
		}
		return p
	}},
	{name: "one-shot and long-running", run: func(s *stack) []string {
		var p []string
		m := s.file.Services["mxwatch-migrate"]
		if m.Restart != "no" || !slices.Equal(m.Command, []string{"migrate"}) {
			p = append(p, fmt.Sprintf("mxwatch-migrate: restart %q command %v, want \"no\" [migrate]", m.Restart, m.Command))
		}
		sk := s.file.Services["mxwatch-sink"]
		if sk.Restart != "unless-stopped" || !slices.Equal(sk.Command, []string{"sink"}) {
			p = append(p, fmt.Sprintf("mxwatch-sink: restart %q command %v, want unless-stopped [sink]", sk.Restart, sk.Command))
		}
		if d, err := time.ParseDuration(sk.StopGracePeriod); err != nil || d < 45*time.Second {
			p = append(p, fmt.Sprintf("mxwatch-sink: stop_grace_period %q, want at least 45s (the sink flushes on SIGTERM)", sk.StopGracePeriod))
		}
		return p
	}},
	{name: "capture", run: func(s *stack) []string {
		var p []string
		c := s.file.Services["mxwatch-capture"]
		if c.NetworkMode != "host" {
			p = append(p, fmt.Sprintf("mxwatch-capture: network_mode %q, want host", c.NetworkMode))
		}
		for _, cap := range []string{"NET_RAW", "NET_ADMIN"} {
			if !slices.Contains(c.CapAdd, cap) {
				p = append(p, fmt.Sprintf("mxwatch-capture: cap_add %v lacks %s", c.CapAdd, cap))
			}
		}
		if !slices.Equal(c.Profiles, []string{"sensor"}) {
			p = append(p, fmt.Sprintf("mxwatch-capture: profiles %v, want [sensor]", c.Profiles))
		}
		if len(c.Command) != 3 || c.Command[0] != "capture" || c.Command[1] != "-i" || c.Command[2] == "" {
			p = append(p, fmt.Sprintf("mxwatch-capture: command %v, want [capture -i IFACE]", c.Command))
		}
		if got := c.Environment["MXWATCH_KAFKA_BROKERS"]; got != "127.0.0.1:29092" {
			p = append(p, fmt.Sprintf("mxwatch-capture: MXWATCH_KAFKA_BROKERS %q, want the host-published 127.0.0.1:29092", got))
		}
		if _, ok := c.Environment["MXWATCH_CLICKHOUSE_PASSWORD"]; ok {
			p = append(p, "mxwatch-capture: gets the ClickHouse password it does not need")
		}
		return p
	}},
	{name: "kafka", run: func(s *stack) []string {
		var p []string
		k := s.file.Services["kafka"]
		want := map[string]string{
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
		}
		for key, v := range want {
			if k.Environment[key] != v {
				p = append(p, fmt.Sprintf("kafka: %s=%q, want %q", key, k.Environment[key], v))
			}
		}
		adv := k.Environment["KAFKA_ADVERTISED_LISTENERS"]
		for _, l := range []string{"PLAINTEXT://kafka:9092", "EXTERNAL://127.0.0.1:29092"} {
			if !slices.Contains(strings.Split(adv, ","), l) {
				p = append(p, fmt.Sprintf("kafka: KAFKA_ADVERTISED_LISTENERS %q lacks %s", adv, l))
			}
		}
		if len(k.Ports) != 1 || k.Ports[0] != (port{HostIP: "127.0.0.1", Published: "29092", Target: "29092"}) {
			p = append(p, fmt.Sprintf("kafka: ports %+v, want only 127.0.0.1:29092:29092", k.Ports))
		}
		return p
	}},
	{name: "published ports on loopback", run: func(s *stack) []string {
		var p []string
		for name, svc := range s.file.Services {
			for _, pt := range svc.Ports {
				if pt.HostIP != "127.0.0.1" {
					p = append(p, fmt.Sprintf("%s: port %+v is published on all interfaces by default, want 127.0.0.1", name, pt))
				}
			}
		}
		return p
	}},
	{name: "no privileged", run: func(s *stack) []string {
		var p []string
		for name, svc := range s.file.Services {
			if svc.Privileged {
				p = append(p, name+": privileged")
			}
		}
		return p
	}},
	{name: "mounts", run: func(s *stack) []string {
		var p []string
		root := filepath.Clean(s.dir)
		for name, svc := range s.file.Services {
			for _, m := range svc.Volumes {
				if !m.Bind {
					if _, ok := s.file.Volumes[m.Source]; !ok {
						p = append(p, fmt.Sprintf("%s: volume %q is not declared under volumes", name, m.Source))
					}
					continue
				}
				host := s.repoPath(m.Source)
				if rel, err := filepath.Rel(root, host); err != nil || strings.HasPrefix(rel, "..") {
					p = append(p, fmt.Sprintf("%s: bind mount %s is outside the repository", name, m.Source))
				}
				if _, err := os.Stat(host); err != nil {
					p = append(p, fmt.Sprintf("%s: bind mount source %s does not exist: %v", name, m.Source, err))
				}
				if !m.ReadOnly {
					p = append(p, fmt.Sprintf("%s: bind mount %s is not read-only", name, m.Source))
				}
			}
		}
		for name, binds := range wantBinds {
			for target, src := range binds {
				found := false
				for _, m := range s.file.Services[name].Volumes {
					if m.Bind && m.Target == target && s.repoPath(m.Source) == s.repoPath(src) {
						found = true
					}
				}
				if !found {
					p = append(p, fmt.Sprintf("%s: does not mount ./%s at %s", name, src, target))
				}
			}
		}
		return p
	}},
	{name: "mxwatch image", run: func(s *stack) []string {
		var p []string
		for _, name := range []string{"mxwatch-migrate", "mxwatch-sink", "mxwatch-capture"} {
			svc := s.file.Services[name]
			ctx := ""
			switch b := svc.Build.(type) {
			case string:
				ctx = b
			case map[string]any:
				ctx, _ = b["context"].(string)
			}
			if ctx == "" || s.repoPath(ctx) != filepath.Clean(s.dir) {
				p = append(p, fmt.Sprintf("%s: build %v, want the repository root (.)", name, svc.Build))
			}
			if got := svc.Environment["MXWATCH_LOG_FORMAT"]; got != "json" {
				p = append(p, fmt.Sprintf("%s: MXWATCH_LOG_FORMAT %q, want json", name, got))
			}
		}
		return p
	}},
	{name: "grafana", run: func(s *stack) []string {
		var p []string
		g := s.file.Services["grafana"]
		for _, key := range []string{"CLICKHOUSE_HOST", "CLICKHOUSE_PORT", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DATABASE", "GF_SECURITY_ADMIN_PASSWORD"} {
			if g.Environment[key] == "" {
				p = append(p, "grafana: environment lacks "+key)
			}
		}
		if !strings.Contains(g.Environment["GF_PLUGINS_PREINSTALL"]+g.Environment["GF_INSTALL_PLUGINS"], "grafana-clickhouse-datasource") {
			p = append(p, "grafana: the ClickHouse plugin is not installed")
		}
		return p
	}},
	{name: "clickhouse accounts", run: func(s *stack) []string {
		// Who connects as whom: the admin migrates, the writer stores,
		// the reader shows; each password is the one the clickhouse
		// service gives that account.
		var p []string
		ch := s.file.Services["clickhouse"].Environment
		for _, key := range []string{"CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DB", writerPasswordVar, readerPasswordVar} {
			if ch[key] == "" {
				p = append(p, "clickhouse: environment lacks "+key+" (the accounts file reads it)")
			}
		}
		if ch["CLICKHOUSE_PASSWORD"] == ch[writerPasswordVar] || ch["CLICKHOUSE_PASSWORD"] == ch[readerPasswordVar] || ch[writerPasswordVar] == ch[readerPasswordVar] {
			p = append(p, "clickhouse: the admin, writer and reader passwords are not all different")
		}
		for _, u := range []struct {
			svc, userKey, pwKey, user, pw, what string
		}{
			{"mxwatch-migrate", "MXWATCH_CLICKHOUSE_USER", "MXWATCH_CLICKHOUSE_PASSWORD", ch["CLICKHOUSE_USER"], ch["CLICKHOUSE_PASSWORD"], "the admin"},
			{"mxwatch-sink", "MXWATCH_CLICKHOUSE_USER", "MXWATCH_CLICKHOUSE_PASSWORD", writerUser, ch[writerPasswordVar], "the writer account"},
			{"grafana", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", readerUser, ch[readerPasswordVar], "the read-only account"},
		} {
			env := s.file.Services[u.svc].Environment
			if env[u.userKey] != u.user || env[u.pwKey] != u.pw {
				p = append(p, fmt.Sprintf("%s: connects as %q (password of %s: %v), want %s %q", u.svc, env[u.userKey], u.pwKey, env[u.pwKey] == u.pw, u.what, u.user))
			}
		}
		if got := s.file.Services["mxwatch-sink"].Environment["MXWATCH_SINK_MIGRATE"]; got != "false" {
			p = append(p, fmt.Sprintf("mxwatch-sink: MXWATCH_SINK_MIGRATE %q, want \"false\" (the writer account cannot run DDL)", got))
		}
		return p
	}},
}

// mustMap returns the mapping under key of the document, or nil.
func mustMap(root *yaml.Node, key string) *yaml.Node {
	v, _ := mapValue(root, key)
	return v
}

// rawChecks apply only to docker-compose.yml as written (comments,
// variables and keys that docker-compose's rendering rewrites).
var rawChecks = []struct {
	name string
	run  func(s *stack, refs map[string][]varRef) []string
}{
	{name: "no version key", run: func(s *stack, _ map[string][]varRef) []string {
		if _, k := mapValue(s.root, "version"); k != nil {
			return []string{"top-level version: key (obsolete in the Compose specification)"}
		}
		return nil
	}},
	{name: "no hard-coded secrets", run: func(s *stack, _ map[string][]varRef) []string {
		var p []string
		secret := regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|HMAC_KEY)`)
		for _, svc := range mustMap(s.root, "services").Content {
			env, _ := mapValue(svc, "environment")
			for _, n := range envNodes(s.root, env) {
				if secret.MatchString(n.key) && !strings.HasPrefix(strings.TrimSpace(n.value), "${") {
					p = append(p, fmt.Sprintf("line %d: %s is hard-coded; use ${VAR:-development-default}", n.line, n.key))
				}
			}
		}
		return p
	}},
	{name: "variables match env.example", run: func(_ *stack, refs map[string][]varRef) []string {
		var p []string
		env, err := readEnvFile(envExamplePath)
		if err != nil {
			return []string{err.Error()}
		}
		for name, uses := range refs {
			want, ok := env[name]
			if !ok {
				p = append(p, fmt.Sprintf("${%s} is not in deploy/env.example", name))
				continue
			}
			for _, u := range uses {
				if u.hasDef && u.def != want {
					p = append(p, fmt.Sprintf("${%s} defaults to %q in docker-compose.yml but %q in deploy/env.example", name, u.def, want))
				}
			}
		}
		for name := range env {
			if _, ok := refs[name]; !ok {
				p = append(p, fmt.Sprintf("deploy/env.example sets %s, which docker-compose.yml does not use", name))
			}
		}
		return p
	}},
	{name: "MXWATCH variables are configuration keys", run: func(s *stack, _ map[string][]varRef) []string {
		keys, err := configEnvNames(exampleConfig)
		if err != nil {
			return []string{err.Error()}
		}
		var p []string
		for name, svc := range s.file.Services {
			for k := range svc.Environment {
				if strings.HasPrefix(k, "MXWATCH_") && !keys[k] {
					p = append(p, fmt.Sprintf("%s: %s names no key of %s", name, k, exampleConfig))
				}
			}
		}
		return p
	}},
}

// envEntry is one environment variable of a service as written.
type envEntry struct {
	key, value string
	line       int
}

// envNodes lists the environment entries of a service node, following
// merge keys (<<: *anchor).
func envNodes(root, env *yaml.Node) []envEntry {
	if env == nil {
		return nil
	}
	if env.Kind == yaml.AliasNode {
		return envNodes(root, env.Alias)
	}
	var out []envEntry
	switch env.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(env.Content); i += 2 {
			k, v := env.Content[i], env.Content[i+1]
			if k.Value == "<<" {
				if v.Kind == yaml.SequenceNode {
					for _, a := range v.Content {
						out = append(out, envNodes(root, a)...)
					}
				} else {
					out = append(out, envNodes(root, v)...)
				}
				continue
			}
			out = append(out, envEntry{key: k.Value, value: v.Value, line: k.Line})
		}
	case yaml.SequenceNode:
		for _, it := range env.Content {
			k, v, _ := strings.Cut(it.Value, "=")
			out = append(out, envEntry{key: k, value: v, line: it.Line})
		}
	}
	return out
}

// readEnvFile parses NAME=value lines (comments and blank lines skipped).
func readEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want NAME=value, got %q", path, line, t)
		}
		if _, dup := env[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s set twice", path, line, k)
		}
		env[k] = v
	}
	return env, nil
}

// configLeaves returns the key paths ("kafka.tls.enabled") of every leaf of
// a YAML configuration file.
func configLeaves(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	out := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if mm, ok := v.(map[string]any); ok && len(mm) > 0 {
			for k, c := range mm {
				walk(strings.TrimPrefix(prefix+"."+k, "."), c)
			}
			return
		}
		out[prefix] = true
	}
	walk("", m)
	return out, nil
}

// configEnvNames returns the MXWATCH_* variable of every configuration key.
func configEnvNames(path string) (map[string]bool, error) {
	leaves, err := configLeaves(path)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for k := range leaves {
		out["MXWATCH_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = true
	}
	return out, nil
}

func runChecks(t *testing.T, s *stack) {
	t.Helper()
	for _, c := range stackChecks {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.run(s) {
				t.Error(p)
			}
		})
	}
}

func readCompose(t *testing.T) (*stack, map[string][]varRef, []byte) {
	t.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	dir, err := filepath.Abs(filepath.Dir(composePath))
	if err != nil {
		t.Fatal(err)
	}
	s, refs, err := parseCompose(data, dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, refs, data
}

// TestComposeStructure checks docker-compose.yml as written, without
// docker-compose: variables take their defaults, as with an empty
// environment.
func TestComposeStructure(t *testing.T) {
	s, refs, _ := readCompose(t)
	runChecks(t, s)
	for _, c := range rawChecks {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.run(s, refs) {
				t.Error(p)
			}
		})
	}
}

// TestComposeChecksCatch breaks docker-compose.yml in one way per case and
// expects the checks to report it, so that a check that cannot fail fails.
func TestComposeChecksCatch(t *testing.T) {
	tests := []struct {
		name    string
		old     string
		new     string
		wantErr string
	}{
		{name: "privileged", old: "  grafana:\n", new: "  grafana:\n    privileged: true\n", wantErr: "grafana: privileged"},
		{name: "capture not on the host network", old: "network_mode: host", new: "network_mode: bridge", wantErr: "network_mode \"bridge\""},
		{name: "capture without NET_ADMIN", old: "cap_add: [NET_RAW, NET_ADMIN]", new: "cap_add: [NET_RAW]", wantErr: "lacks NET_ADMIN"},
		{name: "sink does not wait for migrate", old: "condition: service_completed_successfully", new: "condition: service_started", wantErr: "depends_on mxwatch-migrate"},
		{name: "missing bind source", old: "./deploy/alertmanager.yml:", new: "./deploy/nonexistent.yml:", wantErr: "does not exist"},
		{name: "bind outside the repository", old: "./deploy/alertmanager.yml:", new: "/etc/alertmanager.yml:", wantErr: "outside the repository"},
		{name: "kafka on all interfaces", old: `"127.0.0.1:29092:29092"`, new: `"29092:29092"`, wantErr: "want only 127.0.0.1:29092:29092"},
		{name: "grafana provisioning not mounted", old: ":/etc/grafana/provisioning:ro", new: ":/etc/grafana/other:ro", wantErr: "at /etc/grafana/provisioning"},
		{name: "healthcheck disabled without reason", old: `test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:3000/api/health"]`, new: "disable: true", wantErr: "grafana: healthcheck disabled but not documented"},
		{name: "hard-coded password", old: "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:-admin}", new: "GF_SECURITY_ADMIN_PASSWORD: admin", wantErr: "GF_SECURITY_ADMIN_PASSWORD is hard-coded"},
		{name: "unknown mxwatch variable", old: "  MXWATCH_LOG_FORMAT: json\n", new: "  MXWATCH_LOG_FORMAT: json\n  MXWATCH_KAFKA_BROKER: x\n", wantErr: "MXWATCH_KAFKA_BROKER names no key"},
		{name: "variable missing from env.example", old: "${GRAFANA_ROOT_URL:-http://localhost:3000/}", new: "${GRAFANA_URL:-http://localhost:3000/}", wantErr: "${GRAFANA_URL} is not in deploy/env.example"},
		{name: "default differs from env.example", old: "${MXWATCH_IFACE:-eth1}", new: "${MXWATCH_IFACE:-eth0}", wantErr: "defaults to \"eth0\""},
		{name: "version key", old: "services:\n", new: "version: \"3.9\"\nservices:\n", wantErr: "top-level version"},
		{name: "short grace period", old: "    command: [\"sink\"]\n    restart: unless-stopped\n    stop_grace_period: 45s\n", new: "    command: [\"sink\"]\n    restart: unless-stopped\n    stop_grace_period: 10s\n", wantErr: "stop_grace_period \"10s\""},
		{name: "sink writes as the admin", old: "      MXWATCH_CLICKHOUSE_USER: mxwatch_writer\n", new: "", wantErr: "mxwatch-sink: connects as \"mxwatch\""},
		{name: "grafana reads as the writer", old: "CLICKHOUSE_USER: mxwatch_reader", new: "CLICKHOUSE_USER: mxwatch_writer", wantErr: "grafana: connects as \"mxwatch_writer\""},
		{name: "grafana gets the admin password", old: "CLICKHOUSE_PASSWORD: ${CLICKHOUSE_READER_PASSWORD:-mxwatch-reader-dev-password}", new: "CLICKHOUSE_PASSWORD: ${CLICKHOUSE_PASSWORD:-mxwatch-dev-password}", wantErr: "grafana: connects as \"mxwatch_reader\" (password of CLICKHOUSE_PASSWORD: false)"},
		{name: "sink migrates", old: "      MXWATCH_SINK_MIGRATE: \"false\"\n", new: "", wantErr: "MXWATCH_SINK_MIGRATE"},
		{name: "accounts file not mounted", old: ":/etc/clickhouse-server/users.d/mxwatch-roles.xml:ro", new: ":/etc/clickhouse-server/config.d/mxwatch-roles.xml:ro", wantErr: "at /etc/clickhouse-server/users.d/mxwatch-roles.xml"},
		{name: "writer password missing", old: "      CLICKHOUSE_WRITER_PASSWORD: ${CLICKHOUSE_WRITER_PASSWORD:-mxwatch-writer-dev-password}\n", new: "", wantErr: "clickhouse: environment lacks CLICKHOUSE_WRITER_PASSWORD"},
		{name: "undeclared volume", old: "  grafana-data:\n", new: "", wantErr: "volume \"grafana-data\" is not declared"},
	}
	_, _, data := readCompose(t)
	dir, err := filepath.Abs(filepath.Dir(composePath))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(data, []byte(tt.old)) {
				t.Fatalf("docker-compose.yml no longer contains %q: update this case", tt.old)
			}
			broken := bytes.Replace(data, []byte(tt.old), []byte(tt.new), 1)
			s, refs, err := parseCompose(broken, dir)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var problems []string
			for _, c := range stackChecks {
				problems = append(problems, c.run(s)...)
			}
			for _, c := range rawChecks {
				problems = append(problems, c.run(s, refs)...)
			}
			for _, p := range problems {
				if strings.Contains(p, tt.wantErr) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %q", tt.wantErr, problems)
		})
	}
}

// composeCommand finds docker-compose (v1) or the docker compose plugin (v2).
func composeCommand(ctx context.Context) []string {
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.CommandContext(ctx, p, "compose", "version").Run() == nil {
			return []string{p, "compose"}
		}
	}
	return nil
}

// TestComposeConfig renders docker-compose.yml with docker-compose (no
// engine needed) using deploy/env.example as the .env file, and checks the
// result.
func TestComposeConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmdline := composeCommand(ctx)
	if cmdline == nil {
		t.Skip("docker-compose not found (apt-get install docker-compose, or the docker compose plugin): docker-compose.yml is only checked structurally")
	}
	compose, err := filepath.Abs(composePath)
	if err != nil {
		t.Fatal(err)
	}
	envFile, err := filepath.Abs(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	args := append(cmdline[1:], "--env-file", envFile, "-f", compose, "--profile", "sensor", "config")
	cmd := exec.CommandContext(ctx, cmdline[0], args...)
	// A clean environment: only env.example decides the variables.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C.UTF-8"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	s := &stack{dir: filepath.Dir(compose)}
	if err := yaml.Unmarshal(out, &s.file); err != nil {
		t.Fatalf("parse docker-compose config output: %v\n%s", err, out)
	}
	runChecks(t, s)
}

// TestGrafanaProvisioning checks that the provisioning Grafana mounts
// exists and that every variable its data sources read is set on the
// grafana service.
func TestGrafanaProvisioning(t *testing.T) {
	s, _, _ := readCompose(t)
	for _, dir := range []string{"dashboards/grafana/provisioning/datasources", "dashboards/grafana/provisioning/dashboards", "dashboards/grafana/dashboards"} {
		if fi, err := os.Stat(s.repoPath(dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s: Grafana's provisioning is missing (%v)", dir, err)
		}
	}
	files, err := filepath.Glob(s.repoPath("dashboards/grafana/provisioning/datasources/*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no data source provisioning file")
	}
	ref := regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	env := s.file.Services["grafana"].Environment
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Comments may name variables as examples; only values count.
		var values []byte
		for _, l := range bytes.Split(data, []byte("\n")) {
			if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
				values = append(append(values, l...), '\n')
			}
		}
		for _, m := range ref.FindAllSubmatch(values, -1) {
			if name := string(m[1]); env[name] == "" {
				t.Errorf("%s reads $%s, which the grafana service does not set", filepath.Base(f), name)
			}
		}
	}
}

// TestDeployConfig checks that deploy/mxwatch.yaml only uses keys mxwatch
// knows (it rejects unknown ones at start) and sets no secret.
func TestDeployConfig(t *testing.T) {
	known, err := configLeaves(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := configLeaves(mxwatchPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("deploy/mxwatch.yaml sets no key")
	}
	for k := range got {
		if !known[k] {
			t.Errorf("deploy/mxwatch.yaml: unknown key %s", k)
		}
		for _, secret := range []string{"password", "hmac_key", "bearer_token"} {
			if strings.HasSuffix(k, secret) {
				t.Errorf("deploy/mxwatch.yaml: %s is a secret; set it in the environment", k)
			}
		}
	}
}

// TestAlertmanagerConfig checks deploy/alertmanager.yml: its route's
// receiver exists, and amtool accepts it when amtool is installed.
func TestAlertmanagerConfig(t *testing.T) {
	data, err := os.ReadFile(alertmgrPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Route struct {
			Receiver string `yaml:"receiver"`
		} `yaml:"route"`
		Receivers []struct {
			Name string `yaml:"name"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("parse: %v", err)
	}
	var names []string
	for _, r := range cfg.Receivers {
		names = append(names, r.Name)
	}
	if cfg.Route.Receiver == "" || !slices.Contains(names, cfg.Route.Receiver) {
		t.Errorf("route receiver %q is not among the receivers %v", cfg.Route.Receiver, names)
	}
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Log("amtool not found (apt-get install prometheus-alertmanager): not checked with it")
		return
	}
	if out, err := exec.CommandContext(t.Context(), amtool, "check-config", alertmgrPath).CombinedOutput(); err != nil {
		t.Errorf("amtool check-config: %v\n%s", err, out)
	}
}

// dockerfileStage is one FROM ... section of a Dockerfile.
type dockerfileStage struct {
	from, name string
	lines      []string // instructions after FROM, continuations joined
}

// parseDockerfile splits a Dockerfile into stages.
func parseDockerfile(data []byte) ([]dockerfileStage, error) {
	var stages []dockerfileStage
	var cur strings.Builder
	flush := func() error {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return nil
		}
		fields := strings.Fields(line)
		if strings.EqualFold(fields[0], "FROM") {
			st := dockerfileStage{}
			rest := fields[1:]
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				rest = rest[1:]
			}
			if len(rest) == 0 {
				return fmt.Errorf("FROM without an image: %q", line)
			}
			st.from = rest[0]
			if len(rest) == 3 && strings.EqualFold(rest[1], "AS") {
				st.name = rest[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if strings.EqualFold(fields[0], "ARG") {
				return nil
			}
			return fmt.Errorf("instruction before FROM: %q", line)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(t, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(t, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(t)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, errors.New("no FROM")
	}
	return stages, nil
}

// dockerfileProblems checks a Dockerfile against the rules of the image.
func dockerfileProblems(data []byte, goVersion string) []string {
	stages, err := parseDockerfile(data)
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	if len(stages) < 2 {
		return []string{fmt.Sprintf("%d stage(s), want a build stage and a runtime stage", len(stages))}
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.from, "golang:"+goVersion) {
		p = append(p, fmt.Sprintf("build stage FROM %s, want golang:%s (go.mod)", build.from, goVersion))
	}
	text := strings.Join(build.lines, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "./cmd/mxwatch"} {
		if !strings.Contains(text, want) {
			p = append(p, "build stage lacks "+want)
		}
	}
	if build.name == "" || !slices.ContainsFunc(final.lines, func(l string) bool { return strings.Contains(l, "--from="+build.name) }) {
		p = append(p, "runtime stage copies nothing from a named build stage")
	}
	user := ""
	if strings.HasSuffix(final.from, ":nonroot") {
		user = "nonroot"
	}
	entry := ""
	for _, l := range final.lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "USER":
			user = strings.Join(f[1:], " ")
		case "ENTRYPOINT":
			entry = strings.TrimSpace(l[len(f[0]):])
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		p = append(p, fmt.Sprintf("runtime user %q, want a non-root user", user))
	}
	if entry != `["/usr/local/bin/mxwatch"]` {
		p = append(p, fmt.Sprintf("ENTRYPOINT %s, want [\"/usr/local/bin/mxwatch\"]", entry))
	}
	return p
}

// goVersion returns the major.minor Go version of go.mod.
func goVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(goModPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod: no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	gv := goVersion(t)
	for _, p := range dockerfileProblems(data, gv) {
		t.Error(p)
	}

	tests := []struct {
		name    string
		old     string
		new     string
		wantErr string
	}{
		{name: "root runtime", old: "USER 65532:65532", new: "USER root", wantErr: "non-root"},
		{name: "cgo on", old: "CGO_ENABLED=0", new: "CGO_ENABLED=1", wantErr: "CGO_ENABLED=0"},
		{name: "other entrypoint", old: `ENTRYPOINT ["/usr/local/bin/mxwatch"]`, new: `ENTRYPOINT ["/bin/sh"]`, wantErr: "ENTRYPOINT"},
		{name: "single stage", old: "FROM gcr.io/distroless/static-debian12:nonroot", new: "", wantErr: "stage"},
		{name: "wrong go", old: "FROM golang:" + gv, new: "FROM golang:1.20", wantErr: "golang:" + gv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(data, []byte(tt.old)) {
				t.Fatalf("Dockerfile no longer contains %q: update this case", tt.old)
			}
			broken := bytes.Replace(data, []byte(tt.old), []byte(tt.new), 1)
			problems := dockerfileProblems(broken, gv)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.wantErr) }) {
				t.Errorf("no problem mentions %q; got %q", tt.wantErr, problems)
			}
		})
	}
}

// TestDockerignore checks that the build context keeps what the build and
// the README need and drops the repository's history and local secrets.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(ignorePath)
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	tests := []struct {
		name    string
		path    string
		ignored bool
	}{
		{name: "history", path: ".git", ignored: true},
		{name: "local env", path: ".env", ignored: true},
		{name: "built binary", path: "mxwatch", ignored: true},
		{name: "go.mod", path: "go.mod"},
		{name: "go.sum", path: "go.sum"},
		{name: "main package", path: "cmd/mxwatch/main.go"},
		{name: "embedded example config", path: "cmd/mxwatch/mxwatch.example.yaml"},
		{name: "embedded migrations", path: "sink/clickhouse/migrations/0001.sql"},
		{name: "embedded dashboards", path: "dashboards/grafana/dashboards/overview.json"},
		{name: "README capture", path: "testdata/direct-to-mx.pcap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := false
			for _, p := range patterns {
				if ignoredBy(p, tt.path) {
					got = true
				}
			}
			if got != tt.ignored {
				t.Errorf("%s ignored = %v, want %v", tt.path, got, tt.ignored)
			}
		})
	}
}

// ignoredBy approximates .dockerignore matching: a pattern matches a path
// or one of its parent directories; "**/" matches any number of
// directories.
func ignoredBy(pattern, path string) bool {
	parts := strings.Split(path, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		if ok, _ := filepath.Match(pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for j := 0; j < i; j++ {
				if ok, _ := filepath.Match(rest, strings.Join(parts[j:i], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"SET": "value", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "plain", in: "no variables", want: "no variables"},
		{name: "braced", in: "a${SET}b", want: "avalueb"},
		{name: "bare", in: "$SET/x", want: "value/x"},
		{name: "escaped dollar", in: "$$HOME", want: "$HOME"},
		{name: "default when unset", in: "${UNSET:-d}", want: "d"},
		{name: "default when empty", in: "${EMPTY:-d}", want: "d"},
		{name: "dash default keeps empty", in: "${EMPTY-d}", want: ""},
		{name: "dash default when unset", in: "${UNSET-d}", want: "d"},
		{name: "default not used", in: "${SET:-d}", want: "value"},
		{name: "default with colons", in: "${UNSET:-127.0.0.1}:3000:3000", want: "127.0.0.1:3000:3000"},
		{name: "empty default", in: "${UNSET:-}", want: ""},
		{name: "required missing", in: "${UNSET:?set it}", wantErr: true},
		{name: "required set", in: "${SET:?set it}", want: "value"},
		{name: "unterminated", in: "${SET", wantErr: true},
		{name: "lone dollar", in: "cost $", wantErr: true},
		{name: "no name", in: "${:-x}", wantErr: true},
		{name: "bad operator", in: "${SET/x}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := interpolate(tt.in, lookup, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("interpolate(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("interpolate(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzInterpolate: arbitrary strings never panic, and text without $
// comes back unchanged.
func FuzzInterpolate(f *testing.F) {
	for _, s := range []string{"", "$", "$$", "${", "${A", "${A:-b}", "${A-}", "${A:?x}", "$A$B", "a}b", "${A:-${B}}"} {
		f.Add(s)
	}
	lookup := func(k string) (string, bool) { return strings.ToLower(k), len(k)%2 == 0 }
	f.Fuzz(func(t *testing.T, s string) {
		got, err := interpolate(s, lookup, func(string, string, bool) {})
		if !strings.Contains(s, "$") && (err != nil || got != s) {
			t.Errorf("interpolate(%q) = %q, %v; want it unchanged", s, got, err)
		}
	})
}
