package dnsbl

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	ok := func() Config { return Config{Zones: []Zone{testZone()}, Resolver: "127.0.0.1:53"} }
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // a substring; "" means valid
	}{
		{name: "minimal", change: func(*Config) {}},
		{name: "ipv6 resolver", change: func(c *Config) { c.Resolver = "[::1]:5353" }},
		{name: "no retries", change: func(c *Config) { c.Retries = -1 }},
		{name: "fqdn zone", change: func(c *Config) { c.Zones[0].Name = "Bl.Test." }},
		{name: "no resolver", change: func(c *Config) { c.Resolver = "" }, wantErr: "Resolver: required"},
		{name: "resolver without port", change: func(c *Config) { c.Resolver = "127.0.0.1" }, wantErr: "Resolver"},
		{name: "resolver port zero", change: func(c *Config) { c.Resolver = "127.0.0.1:0" }, wantErr: "Resolver"},
		{name: "resolver port too big", change: func(c *Config) { c.Resolver = "127.0.0.1:65536" }, wantErr: "Resolver"},
		{name: "resolver without host", change: func(c *Config) { c.Resolver = ":53" }, wantErr: "Resolver"},
		{name: "negative timeout", change: func(c *Config) { c.Timeout = -time.Second }, wantErr: "Timeout"},
		{name: "too many retries", change: func(c *Config) { c.Retries = MaxRetries + 1 }, wantErr: "Retries"},
		{name: "negative concurrency", change: func(c *Config) { c.Concurrency = -1 }, wantErr: "Concurrency"},
		{name: "too much concurrency", change: func(c *Config) { c.Concurrency = MaxConcurrency + 1 }, wantErr: "Concurrency"},
		{name: "no zones", change: func(c *Config) { c.Zones = nil }, wantErr: "Zones: no zone"},
		{name: "empty zone name", change: func(c *Config) { c.Zones[0].Name = "" }, wantErr: "Zones[0].Name: required"},
		{name: "bad zone name", change: func(c *Config) { c.Zones[0].Name = "a..b" }, wantErr: "Zones[0].Name"},
		{name: "zone name with space", change: func(c *Config) { c.Zones[0].Name = "a b.test" }, wantErr: "Zones[0].Name"},
		{name: "zone name too long", change: func(c *Config) {
			c.Zones[0].Name = strings.Repeat("abcdefghi.", 20) + "test"
		}, wantErr: "Zones[0].Name"},
		{name: "duplicate zone", change: func(c *Config) {
			z := testZone()
			z.Name = "BL.test."
			c.Zones = append(c.Zones, z)
		}, wantErr: "Zones[1].Name: duplicate"},
		{name: "code not an address", change: func(c *Config) { c.Zones[0].Codes["x"] = "?" }, wantErr: "Zones[0].Codes"},
		{name: "code outside 127/8", change: func(c *Config) { c.Zones[0].Codes["10.0.0.2"] = "?" }, wantErr: "Zones[0].Codes"},
		{name: "ipv6 code", change: func(c *Config) { c.Zones[0].Codes["::1"] = "?" }, wantErr: "Zones[0].Codes"},
		{name: "bad refusal code", change: func(c *Config) { c.Zones[0].Refused["256.0.0.1"] = "?" }, wantErr: "Zones[0].Refused"},
		{name: "code both listed and refused", change: func(c *Config) {
			c.Zones[0].Refused["127.0.0.2"] = "?"
		}, wantErr: "Zones[0].Refused: 127.0.0.2 is also in Codes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok()
			tt.change(&cfg)
			c, err := New(cfg)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted the config, want error with %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c := mustNew(t, Config{Zones: []Zone{{Name: "bl.test."}}, Resolver: "127.0.0.1:53"})
	if c.s.timeout != DefaultTimeout || c.s.retries != DefaultRetries || c.s.concurrency != DefaultConcurrency {
		t.Errorf("defaults: timeout %s retries %d concurrency %d", c.s.timeout, c.s.retries, c.s.concurrency)
	}
	if z := c.s.zones[0]; z.name != "bl.test." || z.list != "bl.test" {
		t.Errorf("zone name %q list %q, want bl.test. and bl.test", z.name, z.list)
	}
	c = mustNew(t, Config{Zones: []Zone{{Name: "bl.test"}}, Resolver: "127.0.0.1:53", Retries: -1})
	if c.s.retries != 0 {
		t.Errorf("Retries -1 gave %d retries, want 0", c.s.retries)
	}
}

func TestDefaultZones(t *testing.T) {
	zones := DefaultZones()
	wantNames := []string{
		"zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net", "psbl.surriel.com",
		"dnsbl-1.uceprotect.net", "bl.mailspike.net", "dnsbl.sorbs.net", "all.spamrats.com",
	}
	if len(zones) != len(wantNames) {
		t.Fatalf("%d zones, want %d", len(zones), len(wantNames))
	}
	for i, z := range zones {
		if z.Name != wantNames[i] || z.List == "" || len(z.Codes) == 0 {
			t.Errorf("zone %d: %q list %q with %d codes", i, z.Name, z.List, len(z.Codes))
		}
	}
	if _, err := New(Config{Zones: zones, Resolver: "127.0.0.1:53"}); err != nil {
		t.Fatalf("New rejects DefaultZones: %v", err)
	}
	if zones[0].Refused["127.255.255.254"] == "" || !zones[0].IPv6 {
		t.Error("Spamhaus ZEN lacks its open-resolver refusal code or IPv6")
	}
	zones[0].Codes["127.0.0.2"] = "changed"
	if DefaultZones()[0].Codes["127.0.0.2"] == "changed" {
		t.Error("DefaultZones shares its maps between calls")
	}
}
