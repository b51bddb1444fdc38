package smtp

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mxwatch/mxwatch/event"
)

func TestEnhanced(t *testing.T) {
	tests := []struct {
		name, text string
		code       int
		enh, rest  string
	}{
		{name: "plain", text: "5.7.1 blocked", code: 550, enh: "5.7.1", rest: "blocked"},
		{name: "three digits", text: "4.123.456 later", code: 451, enh: "4.123.456", rest: "later"},
		{name: "alone", text: "2.0.0", code: 250, enh: "2.0.0", rest: ""},
		{name: "class differs", text: "5.1.1 x", code: 250, rest: "5.1.1 x"},
		{name: "four digits", text: "5.1234.1 x", code: 550, rest: "5.1234.1 x"},
		{name: "no space after", text: "5.1.1x", code: 550, rest: "5.1.1x"},
		{name: "missing part", text: "5.1. x", code: 550, rest: "5.1. x"},
		{name: "short", text: "5.1", code: 550, rest: "5.1"},
		{name: "text", text: "Ok", code: 250, rest: "Ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enh, rest := enhanced([]byte(tt.text), tt.code)
			if string(enh) != tt.enh || string(rest) != tt.rest {
				t.Errorf("enhanced(%q, %d) = %q, %q; want %q, %q", tt.text, tt.code, enh, rest, tt.enh, tt.rest)
			}
		})
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name, line string
		code       int
		more, ok   bool
		text       string
	}{
		{name: "last", line: "250 ok", code: 250, ok: true, text: "ok"},
		{name: "continues", line: "250-ok", code: 250, more: true, ok: true, text: "ok"},
		{name: "bare", line: "221", code: 221, ok: true},
		{name: "empty text", line: "250-", code: 250, more: true, ok: true},
		{name: "bad separator", line: "250_ok"},
		{name: "not digits", line: "2x0 ok"},
		{name: "class 6", line: "650 ok"},
		{name: "short", line: "25"},
		{name: "empty", line: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, more, text, ok := parseReply([]byte(tt.line))
			if code != tt.code || more != tt.more || ok != tt.ok || string(text) != tt.text {
				t.Errorf("parseReply(%q) = %d %v %q %v", tt.line, code, more, text, ok)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		name, arg, kw, addr string
		params              []string
		dropped             int
	}{
		{name: "brackets", arg: "FROM:<a@b.example>", kw: "FROM", addr: "a@b.example"},
		{name: "params", arg: "FROM:<a@b> SIZE=123 BODY=8BITMIME", kw: "FROM", addr: "a@b", params: []string{"SIZE=123", "BODY=8BITMIME"}},
		{name: "space after colon", arg: "FROM: <a@b>", kw: "FROM", addr: "a@b"},
		{name: "spaces around colon", arg: "from : <a@b>", kw: "FROM", addr: "a@b"},
		{name: "no brackets", arg: "FROM:xH@xH.com", kw: "FROM", addr: "xH@xH.com"},
		{name: "no brackets with params", arg: "FROM: a@b SIZE=1", kw: "FROM", addr: "a@b", params: []string{"SIZE=1"}},
		{name: "null sender", arg: "FROM:<>", kw: "FROM", addr: "<>"},
		{name: "null sender with params", arg: "FROM:<> BODY=7BIT", kw: "FROM", addr: "<>", params: []string{"BODY=7BIT"}},
		{name: "quoted local part", arg: `TO:<"a>b"@c.example> NOTIFY=NEVER`, kw: "TO", addr: `"a>b"@c.example`, params: []string{"NOTIFY=NEVER"}},
		{name: "unclosed bracket", arg: "TO:<a@b x", kw: "TO", addr: "a@b", params: []string{"x"}},
		{name: "no colon", arg: "TO <a@b>", kw: "TO", addr: "a@b"},
		{name: "no keyword", arg: "<a@b>", kw: "TO", addr: "a@b"},
		{name: "empty", arg: "", kw: "FROM", addr: ""},
		{name: "too many params", arg: "FROM:<a@b> 1 2 3 4", kw: "FROM", addr: "a@b", params: []string{"1", "2"}, dropped: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, params, dropped := parsePath([]byte(tt.arg), tt.kw, 2)
			if addr != tt.addr || !slices.Equal(params, tt.params) || dropped != tt.dropped {
				t.Errorf("parsePath(%q) = %q %q %d; want %q %q %d", tt.arg, addr, params, dropped, tt.addr, tt.params, tt.dropped)
			}
		})
	}
}

func TestParseBDAT(t *testing.T) {
	tests := []struct {
		name, arg string
		size      int64
		last, ok  bool
	}{
		{name: "chunk", arg: "100", size: 100, ok: true},
		{name: "last", arg: "0 LAST", last: true, ok: true},
		{name: "last lower case", arg: "7 last", size: 7, last: true, ok: true},
		{name: "other token", arg: "5 X", size: 5, ok: true},
		{name: "huge", arg: "999999999999999999", size: 999999999999999999, ok: true},
		{name: "too many digits", arg: "9999999999999999999"},
		{name: "not a number", arg: "x LAST"},
		{name: "negative", arg: "-1"},
		{name: "missing", arg: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, last, ok := parseBDAT([]byte(tt.arg))
			if size != tt.size || last != tt.last || ok != tt.ok {
				t.Errorf("parseBDAT(%q) = %d %v %v", tt.arg, size, last, ok)
			}
		})
	}
}

func TestCountAddresses(t *testing.T) {
	tests := []struct {
		name, v string
		n       int
	}{
		{name: "one", v: "a@b.example", n: 1},
		{name: "names", v: `Bob <b@y>, "Doe, Jane" <j@y>`, n: 2},
		{name: "group", v: "undisclosed-recipients:;", n: 0},
		{name: "empty", v: "  ", n: 0},
		{name: "fallback bad address", v: "Bob <b>, c@@d, e@f", n: 3},
		{name: "fallback comment", v: "a@b (x, y), [c, d", n: 3},
		{name: "fallback group", v: "team: a@@b, c@d;, e@@f", n: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := countAddresses(tt.v); n != tt.n {
				t.Errorf("countAddresses(%q) = %d, want %d", tt.v, n, tt.n)
			}
		})
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		name, s string
		n       int
		want    string
	}{
		{name: "short", s: "abc", n: 5, want: "abc"},
		{name: "ascii", s: "abcdef", n: 3, want: "abc"},
		{name: "rune boundary", s: "aü", n: 2, want: "a"},
		{name: "invalid utf-8", s: "a\x80\x80\x80\x80\x80", n: 5, want: "a\x80\x80\x80\x80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cut(tt.s, tt.n); got != tt.want {
				t.Errorf("cut(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		err  error
	}{
		{name: "default", mod: func(*Config) {}},
		{name: "zero line", mod: func(c *Config) { c.MaxLineBytes = 0 }, err: ErrNotPositive},
		{name: "small line", mod: func(c *Config) { c.MaxLineBytes = 8 }, err: ErrTooSmall},
		{name: "negative replies", mod: func(c *Config) { c.MaxReplies = -1 }, err: ErrNotPositive},
		{name: "zero pending", mod: func(c *Config) { c.MaxPendingBytes = 0 }, err: ErrNotPositive},
		{name: "zero pipeline", mod: func(c *Config) { c.MaxPipeline = 0 }, err: ErrNotPositive},
		{name: "zero header value", mod: func(c *Config) { c.MaxHeaderValue = 0 }, err: ErrNotPositive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("Validate() = %v, want %v", err, tt.err)
			}
		})
	}
}

// TestNewConnSanitizes checks that a zero Config and a nil emit work.
func TestNewConnSanitizes(t *testing.T) {
	c := NewConn(Config{}, Options{}, nil)
	if c.cfg != DefaultConfig() {
		t.Errorf("config %+v, want defaults", c.cfg)
	}
	c.Data(false, []byte("220 x\r\n"), t0)
	c.Data(true, []byte("MAIL FROM:<a@b>\r\nQUIT\r\n"), t0)
	c.Close(t0)
	c.Close(t0)
	c.Data(true, []byte("NOOP\r\n"), t0)
	c.Gap(true, 5, t0)
	if s := c.Stats(); s.AfterClose != 6 || s.MessagesEmitted != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestEmitTiming checks that a message is emitted as soon as its outcome
// is known, not at Close.
func TestEmitTiming(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  int // messages emitted before Close
	}{
		{name: "after end of data", steps: greet(mailTo("a@x", "b@y", simpleBody, "250 queued")...), want: 1},
		{name: "after rejected mail", steps: greet(cl("MAIL FROM:<a@x>\r\n"), sv("550 no\r\n")), want: 1},
		{name: "after rset", steps: greet(cl("MAIL FROM:<a@x>\r\n"), sv("250 ok\r\n"), cl("RSET\r\n"), sv("250 ok\r\n")), want: 1},
		{name: "open transaction waits", steps: greet(cl("MAIL FROM:<a@x>\r\n"), sv("250 ok\r\n")), want: 0},
		{name: "pipelined end of data waits for its reply", steps: greet(
			cl("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"), sv("250 ok\r\n250 ok\r\n354 go\r\n"),
			cl(simpleBody+".\r\nMAIL FROM:<c@x>\r\n")), want: 0},
		{name: "client only: next mail ends the message", steps: []step{
			cl("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n" + simpleBody + ".\r\nMAIL FROM:<c@x>\r\n")}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			c := NewConn(DefaultConfig(), Options{}, func(*event.Message) { n++ })
			for i, s := range tt.steps {
				c.Data(s.client, []byte(s.data), at(i))
			}
			if n != tt.want {
				t.Errorf("%d messages emitted before Close, want %d", n, tt.want)
			}
		})
	}
}

// TestFillMergesFlags checks that Fill keeps the caller's flags, sorted and
// unique.
func TestFillMergesFlags(t *testing.T) {
	c := NewConn(DefaultConfig(), Options{}, nil)
	c.Data(true, []byte("EHLO x\r\n"), t0)
	c.Gap(true, 3, t0)
	c.Close(t0)
	s := &event.Session{Flags: []string{"zz_caller", "gap"}}
	c.Fill(s)
	if want := []string{"client_only", "gap", "zz_caller"}; !slices.Equal(s.Flags, want) {
		t.Errorf("flags %q, want %q", s.Flags, want)
	}
}

// TestStatsAdd sets every counter and checks that Add and Counters cover
// all of them.
func TestStatsAdd(t *testing.T) {
	var a Stats
	v := reflect.ValueOf(&a).Elem()
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(i + 1))
	}
	var sum Stats
	sum.Add(a)
	sum.Add(a)
	sv := reflect.ValueOf(sum)
	for i := range sv.NumField() {
		if got := sv.Field(i).Uint(); got != 2*uint64(i+1) {
			t.Errorf("Add: %s = %d, want %d", sv.Type().Field(i).Name, got, 2*(i+1))
		}
	}
	cs := a.Counters()
	if len(cs) != v.NumField() {
		t.Fatalf("%d counters for %d fields", len(cs), v.NumField())
	}
	seen := map[uint64]bool{}
	for _, c := range cs {
		if c.Stage != "smtp" || c.Name == "" || strings.ToLower(c.Name) != c.Name {
			t.Errorf("bad counter %+v", c)
		}
		seen[c.Count] = true
	}
	if len(seen) != v.NumField() {
		t.Errorf("counters do not cover every field: %d distinct of %d", len(seen), v.NumField())
	}
}

func TestFlagNames(t *testing.T) {
	seen := map[string]bool{}
	for i := range numFlags {
		name := flagName(flagSet(1) << i)
		if name == "" || seen[name] {
			t.Errorf("flag %d: name %q empty or repeated", i, name)
		}
		seen[name] = true
	}
}
