package clickhouse

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/mxwatch/mxwatch/event"
)

// Column lists, one per table. The mapping from event fields is
// field-by-field in the append functions below; nested structs become
// prefixed columns (auth_*, final_*, pair_*) and slices of structs become
// parallel arrays (reply_*, rcpt_*, answer_*, additional_*, bl_*).
// Durations are stored as integers in the unit the column name says;
// absent times are 1970-01-01; absent addresses are "" (String) or "::"
// (IPv6).
const (
	sessionCols = "id, sensor, start, end, client, client_port, server, server_port, vlans, tunnel, handshake, close, " +
		"syns, connect_rtt_us, bytes_c2s, bytes_s2c, pkts_c2s, pkts_s2c, gaps, gap_bytes, tls, banner, helo_verb, helo, " +
		"extensions, auth_mechanism, auth_outcome, auth_code, command_verbs, command_counts, messages, " +
		"reply_cmds, reply_codes, reply_enhanced, reply_texts, flags"
	messageCols = "id, sensor, session, idx, start, end, client, client_port, server, server_port, vlans, helo, " +
		"mail_from, mail_from_domain, mail_params, mail_code, rcpt_addrs, rcpt_domains, rcpt_codes, rcpt_enhanced, " +
		"rcpt_dropped, method, size, header_bytes, complete, from_header, to_count, cc_count, subject, date_header, " +
		"message_id, message_id_host, x_mailer, user_agent, php_uid, php_script_path, x_php_script, received_count, " +
		"header_names, first_received, final_cmd, final_code, final_enhanced, final_text, outcome, flags"
	dnsCols = "id, sensor, time, query_time, client, client_port, server, server_port, vlans, transport, txid, qname, " +
		"qtype, rcode, tc, edns, matched, answer_names, answer_types, answer_ttls, answer_prefs, answer_hosts, " +
		"answer_addrs, additional_names, additional_types, additional_ttls, additional_prefs, additional_hosts, additional_addrs"
	findingCols = "id, sensor, start, end, client, client_port, server, server_port, vlans, class, confidence, reason, " +
		"pair_by, pair_domain, pair_mx_host, pair_mx_pref, pair_lookup_time, pair_delay_ms, pair_delay_us, pair_resolver, " +
		"pair_lookup_client, pair_via, server_name, handshake, tls, auth, helo, customer, account, cluster, site, egress, " +
		"scripts, message_id_hosts, relay_bypass, dest_group, sensitive, messages, accepted, rejected, tempfailed, " +
		"recipients, rcpt_domains, bl_signatures, bl_lists, bl_types, bl_reasons, bl_codes, bl_enhanced, bl_cmds, bl_texts"
	alertCols = "id, sensor, rule, scope, source, host, customer, dest_group, metric, window_start, time, window_ms, " +
		"observed, baseline, threshold, severity, summary, top_scripts, top_domains, top_rejections"
)

// Writer inserts events into the tables Migrate creates: one batch per
// table per Insert call. Insert is not safe for concurrent use; Stats is.
type Writer struct {
	conn     driver.Conn
	cfg      Config
	features *Features

	mu    sync.Mutex // guards stats
	stats Stats
}

// Stats returns a snapshot of the writer's counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Rows = make(map[string]uint64, len(w.stats.Rows))
	for k, v := range w.stats.Rows {
		s.Rows[k] = v
	}
	s.Errors = make(map[ErrorKind]uint64, len(w.stats.Errors))
	for k, v := range w.stats.Errors {
		s.Errors[k] = v
	}
	return s
}

// NewWriter returns a writer on conn. The server version (and so the
// column types) is asked for on the first Insert.
func NewWriter(conn driver.Conn, cfg Config) *Writer {
	return &Writer{conn: conn, cfg: cfg, stats: Stats{Rows: map[string]uint64{}, Errors: map[ErrorKind]uint64{}}}
}

// Stats counts what the writer did. Clamped counts values that did not
// fit their column (negative or too-large counts and codes, times before
// 1970) and were stored clamped; nothing is dropped silently.
type Stats struct {
	// Rows counts rows sent, by table.
	Rows map[string]uint64
	// Batches counts batches sent; FailedBatches those that failed.
	Batches, FailedBatches uint64
	// Errors counts failed batches by kind (schema, access, unavailable,
	// server).
	Errors map[ErrorKind]uint64
	// Clamped counts values stored clamped to their column's range.
	Clamped uint64
}

// mapper turns events into rows and counts clamped values.
type mapper struct {
	f       Features
	clamped uint64
}

type table struct {
	name, cols string
	rows       [][]any
}

// Insert writes events, grouped by kind, with one PrepareBatch/Send per
// table that has rows. Events of unknown kinds are an error (nothing is
// sent). On error some tables may have been written: callers retry the
// whole slice, which deduplication makes safe. A failed table batch is
// returned as an *InsertError, classified (KindSchema for a table or column
// that does not match, with a hint to run `mxwatch migrate`).
func (w *Writer) Insert(ctx context.Context, events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	if w.features == nil {
		v, err := ServerVersion(ctx, w.conn)
		if err != nil {
			kind, code := Classify(err)
			w.count(func(s *Stats) { s.Errors[kind]++ })
			return &InsertError{Table: "(version check)", Kind: kind, Code: code, Err: err}
		}
		f := FeaturesFor(v)
		w.features = &f
	}
	m := &mapper{f: *w.features}
	tables := []*table{
		{name: "sessions", cols: sessionCols},
		{name: "messages", cols: messageCols},
		{name: "dns_answers", cols: dnsCols},
		{name: "findings", cols: findingCols},
		{name: "alerts", cols: alertCols},
	}
	for _, ev := range events {
		switch e := ev.(type) {
		case *event.Session:
			tables[0].rows = append(tables[0].rows, m.sessionRow(e))
		case *event.Message:
			tables[1].rows = append(tables[1].rows, m.messageRow(e))
		case *event.DNS:
			tables[2].rows = append(tables[2].rows, m.dnsRow(e))
		case *event.Finding:
			tables[3].rows = append(tables[3].rows, m.findingRow(e))
		case *event.Alert:
			tables[4].rows = append(tables[4].rows, m.alertRow(e))
		default:
			return fmt.Errorf("clickhouse: writer: unsupported event %T", ev)
		}
	}
	w.count(func(s *Stats) { s.Clamped += m.clamped })
	for _, t := range tables {
		if len(t.rows) == 0 {
			continue
		}
		err := w.send(ctx, t)
		var kind ErrorKind
		var code int32
		if err != nil {
			kind, code = Classify(err)
		}
		w.count(func(s *Stats) {
			s.Batches++
			if err != nil {
				s.FailedBatches++
				s.Errors[kind]++
			} else {
				s.Rows[t.name] += uint64(len(t.rows))
			}
		})
		if err != nil {
			return &InsertError{Table: t.name, Kind: kind, Code: code, Err: err}
		}
	}
	return nil
}

func (w *Writer) count(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

func (w *Writer) send(ctx context.Context, t *table) error {
	b, err := w.conn.PrepareBatch(ctx, "INSERT INTO "+w.cfg.database()+"."+t.name+" ("+t.cols+")")
	if err != nil {
		return err
	}
	for i, r := range t.rows {
		if err := b.Append(r...); err != nil {
			_ = b.Abort()
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return b.Send()
}

var epoch = time.Unix(0, 0).UTC()

func (m *mapper) ts(t time.Time) time.Time {
	if t.IsZero() {
		return epoch
	}
	if t.Before(epoch) {
		m.clamped++
		return epoch
	}
	return t.UTC()
}

// addr renders an address for an IPv6 or String column.
func (m *mapper) addr(a netip.Addr) string {
	if !a.IsValid() {
		if m.f.IPTypes {
			return "::"
		}
		return ""
	}
	return a.Unmap().String()
}

func plain(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func vlans(v []uint16) []uint16 {
	if v == nil {
		return []uint16{}
	}
	return v
}

func (m *mapper) u16(n int) uint16 {
	if n < 0 || n > 0xffff {
		m.clamped++
		return 0
	}
	return uint16(n)
}

func (m *mapper) u32(n int) uint32 {
	if n < 0 {
		m.clamped++
		return 0
	}
	if int64(n) > 0xffffffff {
		m.clamped++
		return 0xffffffff
	}
	return uint32(n)
}

func b8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// domainOf returns the lower-cased part after the last '@'.
func domainOf(a string) string {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.Trim(a[i+1:], "<> "))
}

func (m *mapper) sessionRow(s *event.Session) []any {
	var verbs []string
	var counts []uint32
	for _, v := range sortedKeys(s.Commands) {
		verbs = append(verbs, v)
		counts = append(counts, m.u32(s.Commands[v]))
	}
	rc, rcode, ren, rtx := []string{}, []uint16{}, []string{}, []string{}
	for _, r := range s.Replies {
		rc, rcode, ren, rtx = append(rc, r.Command), append(rcode, m.u16(r.Code)), append(ren, r.Enhanced), append(rtx, r.Text)
	}
	var am, ao string
	var ac uint16
	if s.Auth != nil {
		am, ao, ac = s.Auth.Mechanism, s.Auth.Outcome, m.u16(s.Auth.Code)
	}
	return []any{
		s.ID, s.Sensor, m.ts(s.Start), m.ts(s.End),
		m.addr(s.Client.Addr()), s.Client.Port(), m.addr(s.Server.Addr()), s.Server.Port(),
		vlans(s.VLANs), s.Tunnel, string(s.Handshake), string(s.Close),
		m.u32(s.SYNs), s.ConnectRTT.Microseconds(),
		s.BytesToServer, s.BytesToClient, s.PacketsToServer, s.PacketsToClient,
		m.u32(s.Gaps), s.GapBytes, string(s.TLS), s.Banner, s.HeloVerb, s.Helo,
		strs(s.Extensions), am, ao, ac, strs(verbs), nonNil32(counts), m.u32(s.Messages),
		rc, rcode, ren, rtx, strs(s.Flags),
	}
}

func nonNil32(v []uint32) []uint32 {
	if v == nil {
		return []uint32{}
	}
	return v
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (mp *mapper) messageRow(m *event.Message) []any {
	ra, rd, rc, re := []string{}, []string{}, []uint16{}, []string{}
	for _, r := range m.Recipients {
		ra, rd, rc, re = append(ra, r.Addr), append(rd, domainOf(r.Addr)), append(rc, mp.u16(r.Code)), append(re, r.Enhanced)
	}
	var fc, fe, ft string
	var fcode uint16
	if m.Final != nil {
		fc, fcode, fe, ft = m.Final.Command, mp.u16(m.Final.Code), m.Final.Enhanced, m.Final.Text
	}
	return []any{
		m.ID, m.Sensor, m.Session, mp.u32(m.Index), mp.ts(m.Start), mp.ts(m.End),
		mp.addr(m.Client.Addr()), m.Client.Port(), mp.addr(m.Server.Addr()), m.Server.Port(), vlans(m.VLANs), m.Helo,
		m.MailFrom, domainOf(m.MailFrom), strs(m.MailParams), mp.u16(m.MailCode), ra, rd, rc, re,
		mp.u32(m.RecipientsDropped), m.Method, m.Size, mp.u32(m.HeaderBytes), b8(m.Complete),
		m.From, mp.u32(m.ToCount), mp.u32(m.CcCount), m.Subject, m.Date,
		m.MessageID, m.MessageIDHost, m.XMailer, m.UserAgent, m.PHPScriptUID, m.PHPScriptPath, m.PHPScript, mp.u32(m.ReceivedCount),
		strs(m.HeaderNames), m.FirstReceived, fc, fcode, fe, ft, m.Outcome, strs(m.Flags),
	}
}

func (m *mapper) rrCols(rrs []event.RR) (names, types []string, ttls []uint32, prefs []uint16, hosts, addrs []string) {
	names, types, ttls, prefs, hosts, addrs = []string{}, []string{}, []uint32{}, []uint16{}, []string{}, []string{}
	for _, r := range rrs {
		names, types, ttls = append(names, r.Name), append(types, r.Type), append(ttls, r.TTL)
		prefs, hosts, addrs = append(prefs, r.Pref), append(hosts, r.Host), append(addrs, plain(r.Addr))
	}
	return
}

func (m *mapper) dnsRow(d *event.DNS) []any {
	an, at, al, ap, ah, aa := m.rrCols(d.Answers)
	xn, xt, xl, xp, xh, xa := m.rrCols(d.Additional)
	return []any{
		d.ID, d.Sensor, m.ts(d.Time), m.ts(d.QueryTime),
		m.addr(d.Client.Addr()), d.Client.Port(), m.addr(d.Server.Addr()), d.Server.Port(), vlans(d.VLANs),
		d.Transport, d.TxID, d.QName, d.QType, d.RCode, b8(d.TC), b8(d.EDNS), b8(d.Matched),
		an, at, al, ap, ah, aa, xn, xt, xl, xp, xh, xa,
	}
}

func (m *mapper) findingRow(x *event.Finding) []any {
	var p event.Pairing
	if x.Pairing != nil {
		p = *x.Pairing
	}
	bs, bl, bt, br, bc, be, bm, bx := []string{}, []string{}, []string{}, []string{}, []uint16{}, []string{}, []string{}, []string{}
	for _, h := range x.Blocklist {
		bs, bl, bt, br = append(bs, h.Signature), append(bl, h.List), append(bt, h.Type), append(br, h.Reason)
		bc, be, bm, bx = append(bc, m.u16(h.Code)), append(be, h.Enhanced), append(bm, h.Command), append(bx, h.Text)
	}
	return []any{
		x.ID, x.Sensor, m.ts(x.Start), m.ts(x.End),
		m.addr(x.Client.Addr()), x.Client.Port(), m.addr(x.Server.Addr()), x.Server.Port(), vlans(x.VLANs),
		string(x.Class), string(x.Confidence), x.Reason,
		p.By, p.Domain, p.MXHost, p.MXPref, m.ts(p.LookupTime), p.Delay.Milliseconds(), p.Delay.Microseconds(), plain(p.Resolver),
		plain(p.LookupClient), p.Via, x.ServerName, string(x.Handshake), string(x.TLS), b8(x.Auth), x.Helo,
		x.Customer, x.Account, x.Cluster, x.Site, plain(x.Egress),
		strs(x.Scripts), strs(x.MessageIDHosts), b8(x.RelayBypass), x.Group, b8(x.Sensitive),
		m.u32(x.Messages), m.u32(x.Accepted), m.u32(x.Rejected), m.u32(x.TempFailed), m.u32(x.Recipients),
		strs(x.RecipientDomains), bs, bl, bt, br, bc, be, bm, bx,
	}
}

func (m *mapper) alertRow(a *event.Alert) []any {
	return []any{
		a.ID, a.Sensor, a.Rule, a.Scope, a.Source, plain(a.Host), a.Customer, a.Group, a.Metric,
		m.ts(a.WindowStart), m.ts(a.Time), a.Window.Milliseconds(),
		a.Observed, a.Baseline, a.Threshold, string(a.Severity), a.Summary,
		strs(a.TopScripts), strs(a.TopDomains), strs(a.TopRejections),
	}
}
