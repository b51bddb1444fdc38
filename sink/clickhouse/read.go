package clickhouse

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/mxwatch/mxwatch/event"
)

// The report queries: the impact and enforcement reports are computed by
// detect's builders from findings and alerts, the same code that computes
// them from captures, so both paths give the same numbers. These functions
// stream the deduplicated (FINAL) rows of a time window back as events.
//
// Precision: on servers without DateTime64 (18.16) times are stored in
// whole seconds; windows given in whole seconds select exactly the events
// whose packet time falls inside them.

const findingReadCols = "id, sensor, start, end, toString(client), client_port, toString(server), server_port, vlans, " +
	"class, confidence, reason, pair_by, pair_domain, pair_mx_host, pair_mx_pref, pair_lookup_time, pair_delay_us, " +
	"pair_resolver, pair_lookup_client, pair_via, server_name, handshake, tls, auth, helo, customer, account, cluster, " +
	"site, egress, scripts, message_id_hosts, relay_bypass, dest_group, sensitive, messages, accepted, rejected, " +
	"tempfailed, recipients, rcpt_domains, bl_signatures, bl_lists, bl_types, bl_reasons, bl_codes, bl_enhanced, bl_cmds, bl_texts"

const alertReadCols = "id, sensor, rule, scope, source, host, customer, dest_group, metric, window_start, time, window_ms, " +
	"observed, baseline, threshold, severity, summary, top_scripts, top_domains, top_rejections"

// window renders "col >= from AND col < to" for the non-zero bounds, with
// whole-second bounds (toDateTime of Unix seconds).
func window(col string, from, to time.Time) string {
	w := "1"
	if !from.IsZero() {
		w += fmt.Sprintf(" AND %s >= toDateTime(%d)", col, from.Unix())
	}
	if !to.IsZero() {
		w += fmt.Sprintf(" AND %s < toDateTime(%d)", col, to.Unix())
	}
	return w
}

// ReadFindings calls fn with every finding whose start lies in [from, to)
// (a zero bound is open), each once, in start order.
func ReadFindings(ctx context.Context, conn driver.Conn, cfg Config, from, to time.Time, fn func(*event.Finding) error) error {
	q := "SELECT " + findingReadCols + " FROM " + cfg.database() + ".findings FINAL WHERE " + window("start", from, to) + " ORDER BY start, id"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("clickhouse: reading findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			f                                          event.Finding
			client, server, resolver, lookupClient     string
			egress, class, confidence, handshake, tls  string
			clientPort, serverPort, mxPref             uint16
			lookupTime                                 time.Time
			delayUS                                    int64
			auth, bypass, sensitive                    uint8
			messages, accepted, rejected, tempf, rcpts uint32
			p                                          event.Pairing
			sigs, lists, types, reasons, enh, cmds, tx []string
			codes                                      []uint16
		)
		if err := rows.Scan(&f.ID, &f.Sensor, &f.Start, &f.End, &client, &clientPort, &server, &serverPort, &f.VLANs,
			&class, &confidence, &f.Reason, &p.By, &p.Domain, &p.MXHost, &mxPref, &lookupTime, &delayUS,
			&resolver, &lookupClient, &p.Via, &f.ServerName, &handshake, &tls, &auth, &f.Helo, &f.Customer, &f.Account, &f.Cluster,
			&f.Site, &egress, &f.Scripts, &f.MessageIDHosts, &bypass, &f.Group, &sensitive, &messages, &accepted, &rejected,
			&tempf, &rcpts, &f.RecipientDomains, &sigs, &lists, &types, &reasons, &codes, &enh, &cmds, &tx); err != nil {
			return fmt.Errorf("clickhouse: reading findings: %w", err)
		}
		f.Kind, f.Version = event.KindFinding, event.SchemaVersion
		f.Start, f.End = unstored(f.Start), unstored(f.End)
		f.Client = netip.AddrPortFrom(parseAddr(client), clientPort)
		f.Server = netip.AddrPortFrom(parseAddr(server), serverPort)
		f.Class, f.Confidence = event.Class(class), event.Confidence(confidence)
		f.Handshake, f.TLS = event.Handshake(handshake), event.TLSMode(tls)
		f.Auth, f.RelayBypass, f.Sensitive = auth != 0, bypass != 0, sensitive != 0
		f.Egress = parseAddr(egress)
		f.Messages, f.Accepted, f.Rejected, f.TempFailed, f.Recipients = int(messages), int(accepted), int(rejected), int(tempf), int(rcpts)
		if p.By != "" {
			p.MXPref, p.LookupTime, p.Delay = mxPref, unstored(lookupTime), time.Duration(delayUS)*time.Microsecond
			p.Resolver, p.LookupClient = parseAddr(resolver), parseAddr(lookupClient)
			f.Pairing = &p
		}
		for i := range sigs {
			f.Blocklist = append(f.Blocklist, event.BlocklistHit{Signature: sigs[i], List: at(lists, i), Type: at(types, i),
				Reason: at(reasons, i), Code: int(atU16(codes, i)), Enhanced: at(enh, i), Command: at(cmds, i), Text: at(tx, i)})
		}
		f.VLANs, f.Scripts, f.MessageIDHosts, f.RecipientDomains = nilIfEmpty(f.VLANs), nilIfEmpty(f.Scripts), nilIfEmpty(f.MessageIDHosts), nilIfEmpty(f.RecipientDomains)
		if err := fn(&f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: reading findings: %w", err)
	}
	return nil
}

// ReadAlerts calls fn with every alert whose time lies in [from, to), each
// once, in time order.
func ReadAlerts(ctx context.Context, conn driver.Conn, cfg Config, from, to time.Time, fn func(*event.Alert) error) error {
	q := "SELECT " + alertReadCols + " FROM " + cfg.database() + ".alerts FINAL WHERE " + window("time", from, to) + " ORDER BY time, id"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("clickhouse: reading alerts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a              event.Alert
			host, severity string
			windowMS       int64
		)
		if err := rows.Scan(&a.ID, &a.Sensor, &a.Rule, &a.Scope, &a.Source, &host, &a.Customer, &a.Group, &a.Metric,
			&a.WindowStart, &a.Time, &windowMS, &a.Observed, &a.Baseline, &a.Threshold, &severity, &a.Summary,
			&a.TopScripts, &a.TopDomains, &a.TopRejections); err != nil {
			return fmt.Errorf("clickhouse: reading alerts: %w", err)
		}
		a.Kind, a.Version = event.KindAlert, event.SchemaVersion
		a.WindowStart, a.Time = unstored(a.WindowStart), unstored(a.Time)
		a.Host, a.Severity, a.Window = parseAddr(host), event.Severity(severity), time.Duration(windowMS)*time.Millisecond
		a.TopScripts, a.TopDomains, a.TopRejections = nilIfEmpty(a.TopScripts), nilIfEmpty(a.TopDomains), nilIfEmpty(a.TopRejections)
		if err := fn(&a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: reading alerts: %w", err)
	}
	return nil
}

// unstored turns the stored form of an absent time (the epoch) back into
// the zero time, and stored times into UTC.
func unstored(t time.Time) time.Time {
	if t.Unix() == 0 {
		return time.Time{}
	}
	return t.UTC()
}

// parseAddr parses an address column: "" and "::" (absent) give the zero
// Addr; IPv4-mapped addresses (IPv6 columns) are unmapped.
func parseAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func atU16(s []uint16, i int) uint16 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
