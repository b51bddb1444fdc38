package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/internal/dnsbl"
	"github.com/mxwatch/mxwatch/sink"
)

type rblConfig struct {
	// Zones are DNSBL zone names; empty means the built-in list. Zones of
	// the built-in list keep their return-code meanings.
	Zones       []string      `mapstructure:"zones"`
	Resolver    string        `mapstructure:"resolver"`
	Timeout     time.Duration `mapstructure:"timeout"`
	Retries     int           `mapstructure:"retries"`
	Concurrency int           `mapstructure:"concurrency"`
}

func defaultRBLConfig() rblConfig {
	return rblConfig{Zones: []string{}, Timeout: 2 * time.Second, Retries: 1, Concurrency: 8}
}

// exitListed is the exit code of rbl check when an address is listed;
// exitInconclusive when some checks failed and none was listed.
const (
	exitListed       = 1
	exitInconclusive = 3
)

func (a *app) rblCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "rbl",
		Short: "DNS blocklist (DNSBL) checks of the platform's egress addresses",
		Example: `  mxwatch rbl check
  mxwatch rbl check 203.0.113.10 203.0.113.11`,
	}
	var events string
	check := &cobra.Command{
		Use:   "check [IP...]",
		Short: "Ask DNSBL zones whether addresses are listed",
		Long: `check asks every configured DNSBL zone (rbl.zones; default: Spamhaus ZEN,
Barracuda, SpamCop, PSBL, UCEPROTECT L1, Mailspike, SORBS, SpamRATS)
whether each address is listed: an A lookup of the reversed address under
the zone, and a TXT lookup for the list's reason when it is. Without
arguments it checks the egress addresses of platform.egress.

Queries go to rbl.resolver (default: the first name server of
/etc/resolv.conf). Several lists refuse queries that come through big
public resolvers and answer with a refusal code (Spamhaus 127.255.255.254):
those are reported as "refused", not as listings; use a resolver of your
own.

Exit codes: 0 no address listed, 1 at least one listed, 2 bad usage or
configuration, 3 no listing found but some checks failed (timeouts,
SERVFAIL, refused).`,
		Example: `  mxwatch rbl check
  mxwatch rbl check --events listings.jsonl 203.0.113.10
  MXWATCH_RBL_RESOLVER=127.0.0.1:53 mxwatch rbl check 2001:db8::25`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.rblCheck(cmd, args, events)
		},
	}
	check.Flags().StringVarP(&events, "events", "e", "", `write an alert event per listing as JSON Lines to this file ("-" for standard output)`)
	check.Flags().StringSlice("zone", nil, "DNSBL zone to ask (repeatable; default: rbl.zones)")
	check.Flags().String("resolver", "", "DNS server to ask, host:port (default: rbl.resolver, else /etc/resolv.conf)")
	must(a.v.BindPFlag("rbl.zones", check.Flags().Lookup("zone")))
	must(a.v.BindPFlag("rbl.resolver", check.Flags().Lookup("resolver")))
	root.AddCommand(check)
	return root
}

func (a *app) rblCheck(cmd *cobra.Command, args []string, events string) error {
	cfg := a.cfg.RBL
	var ips []netip.Addr
	for _, s := range args {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return &exitError{exitUsage, fmt.Errorf("%q is not an IP address", s)}
		}
		ips = append(ips, ip.Unmap())
	}
	if len(ips) == 0 {
		for _, e := range a.cfg.Platform.Egress {
			_, to, _ := strings.Cut(e, "=")
			if ip, err := netip.ParseAddr(strings.TrimSpace(to)); err == nil && !slices.Contains(ips, ip.Unmap()) {
				ips = append(ips, ip.Unmap())
			}
		}
		if len(ips) == 0 {
			return &exitError{exitUsage, errors.New("no addresses: pass them as arguments or configure platform.egress")}
		}
	}
	resolver := cfg.Resolver
	if resolver == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cc.Servers) == 0 {
			return &exitError{exitUsage, errors.New("no resolver: set rbl.resolver (or --resolver); /etc/resolv.conf names none")}
		}
		resolver = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	zones := dnsbl.DefaultZones()
	if len(cfg.Zones) > 0 {
		known := map[string]dnsbl.Zone{}
		for _, z := range zones {
			known[z.Name] = z
		}
		zones = zones[:0:0]
		for _, name := range cfg.Zones {
			name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
			if z, ok := known[name]; ok {
				zones = append(zones, z)
			} else {
				zones = append(zones, dnsbl.Zone{Name: name, List: name})
			}
		}
	}
	checker, err := dnsbl.New(dnsbl.Config{Zones: zones, Resolver: resolver, Timeout: cfg.Timeout, Retries: cfg.Retries, Concurrency: cfg.Concurrency})
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("configuration: rbl: %w", err)}
	}
	results := checker.Check(cmd.Context(), ips)
	if err := dnsbl.WriteTable(cmd.OutOrStdout(), results); err != nil {
		return &exitError{exitFailure, err}
	}
	if events != "" {
		if err := writeListings(cmd, events, results, a.cfg.Sensor); err != nil {
			return &exitError{exitFailure, err}
		}
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil || r.Refused {
			failed++
		}
	}
	switch {
	case dnsbl.Listed(results):
		return &exitError{exitListed, nil}
	case failed > 0:
		return &exitError{exitInconclusive, fmt.Errorf("%d of %d checks were inconclusive (see the table)", failed, len(results))}
	}
	return nil
}

// writeListings writes an alert event for each listing.
func writeListings(cmd *cobra.Command, path string, results []dnsbl.Result, sensor string) error {
	var w *sink.JSONL
	if path == "-" {
		w = sink.NewJSONL("standard output", cmd.OutOrStdout())
	} else {
		var err error
		if w, err = sink.CreateJSONL(path); err != nil {
			return err
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, r := range results {
		if !r.Listed {
			continue
		}
		h := sha256.Sum256([]byte(r.IP.String() + "|" + r.Zone + "|" + now.Truncate(time.Hour).Format(time.RFC3339)))
		al := &event.Alert{
			Kind: event.KindAlert, Version: event.SchemaVersion, ID: hex.EncodeToString(h[:12]), Sensor: sensor,
			Rule: "dnsbl", Scope: "egress", Source: r.IP.String(), Group: r.List, Metric: "listed",
			WindowStart: now, Time: now, Observed: 1, Threshold: 1, Severity: event.SeverityCritical,
			Summary:       fmt.Sprintf("%s is listed on %s (%s)", r.IP, r.List, strings.Join(r.Meanings, "; ")),
			TopRejections: r.TXT,
		}
		if err := w.Write(al); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}
