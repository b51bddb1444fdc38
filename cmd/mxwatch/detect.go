package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/detect/inventory"
	"github.com/mxwatch/mxwatch/detect/replysig"
	"github.com/mxwatch/mxwatch/detect/spike"
	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/internal/alertmanager"
	"github.com/mxwatch/mxwatch/internal/watch"
)

type inventoryConfig struct {
	File           string        `mapstructure:"file"`
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
}

type detectConfig struct {
	Pairing         detect.PairingConfig `mapstructure:"pairing"`
	Signatures      string               `mapstructure:"signatures"`
	Groups          string               `mapstructure:"groups"`
	MaxOpenSessions int                  `mapstructure:"max_open_sessions"`
}

type alertsConfig struct {
	Window         time.Duration      `mapstructure:"window"`
	History        int                `mapstructure:"history"`
	Warmup         time.Duration      `mapstructure:"warmup"`
	MinVolume      float64            `mapstructure:"min_volume"`
	Factor         float64            `mapstructure:"factor"`
	MADs           float64            `mapstructure:"mads"`
	CriticalFactor float64            `mapstructure:"critical_factor"`
	RejectionBurst int                `mapstructure:"rejection_burst"`
	OnlySensitive  bool               `mapstructure:"only_sensitive"`
	Scopes         []string           `mapstructure:"scopes"`
	MaxKeys        int                `mapstructure:"max_keys"`
	Alertmanager   alertmanagerConfig `mapstructure:"alertmanager"`
}

type alertmanagerConfig struct {
	URL     string        `mapstructure:"url"`
	Timeout time.Duration `mapstructure:"timeout"`
	Hold    time.Duration `mapstructure:"hold"`
	// Labels are extra labels as name=value.
	Labels []string `mapstructure:"labels"`
}

func defaultDetectConfig() detectConfig {
	d := detect.DefaultConfig()
	return detectConfig{Pairing: d.Pairing, MaxOpenSessions: d.MaxOpenSessions}
}

func defaultAlertsConfig() alertsConfig {
	s := spike.DefaultConfig()
	am := alertmanager.Config{}.WithDefaults()
	return alertsConfig{
		Window: s.Window, History: s.History, Warmup: s.Warmup, MinVolume: s.MinVolume, Factor: s.Factor,
		MADs: s.MADs, CriticalFactor: s.CriticalFactor, RejectionBurst: s.RejectionBurst,
		OnlySensitive: s.OnlySensitive, Scopes: s.Scopes, MaxKeys: s.MaxKeys,
		Alertmanager: alertmanagerConfig{Timeout: am.Timeout, Hold: am.Hold, Labels: []string{}},
	}
}

// detectorConfig converts the file's platform, detect and alerts sections.
func (f *fileConfig) detectorConfig() detect.Config {
	c := detect.DefaultConfig()
	c.Sensor = f.Sensor
	c.Platform = f.Platform
	c.Pairing = f.Detect.Pairing
	c.MaxOpenSessions = f.Detect.MaxOpenSessions
	a := f.Alerts
	s := &c.Spike
	s.Window, s.History, s.Warmup, s.MinVolume, s.Factor = a.Window, a.History, a.Warmup, a.MinVolume, a.Factor
	s.MADs, s.CriticalFactor, s.RejectionBurst = a.MADs, a.CriticalFactor, a.RejectionBurst
	s.OnlySensitive, s.Scopes, s.MaxKeys = a.OnlySensitive, a.Scopes, a.MaxKeys
	return c
}

// resolvePaths makes the file names of the configuration that are
// relative relative to dir, the directory of the configuration file.
func (f *fileConfig) resolvePaths(dir string) {
	for _, p := range []*string{&f.Inventory.File, &f.Detect.Signatures, &f.Detect.Groups, &f.Privacy.HMACKeyFile, &f.Metrics.BearerTokenFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// loadTables reads the signature, group and inventory files the
// configuration names; the embedded tables are the base.
func loadTables(f *fileConfig) (detect.Tables, error) {
	t, err := loadReplyTables(f)
	if err != nil {
		return t, err
	}
	if p := f.Inventory.File; p != "" {
		inv, err := inventory.ParseFile(p)
		if err != nil {
			return t, fmt.Errorf("inventory.file: %w", err)
		}
		t.Inventory = inv
	}
	return t, nil
}

// loadReplyTables reads the signature and group files on top of the
// embedded tables.
func loadReplyTables(f *fileConfig) (detect.Tables, error) {
	t := detect.Tables{Signatures: replysig.Default(), Groups: replysig.DefaultGroups()}
	if p := f.Detect.Signatures; p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return t, fmt.Errorf("detect.signatures: %w", err)
		}
		extra, err := replysig.Parse(b)
		if err != nil {
			return t, fmt.Errorf("detect.signatures: %s: %w", p, err)
		}
		t.Signatures = t.Signatures.Merge(extra)
	}
	if p := f.Detect.Groups; p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return t, fmt.Errorf("detect.groups: %w", err)
		}
		extra, err := replysig.ParseGroups(b)
		if err != nil {
			return t, fmt.Errorf("detect.groups: %s: %w", p, err)
		}
		t.Groups = t.Groups.Merge(extra)
	}
	return t, nil
}

// newDetector builds the detector of a run. When an inventory file is
// configured, it is reloaded on change and on SIGHUP until ctx ends.
func (a *app) newDetector(ctx context.Context, cfg fileConfig) (*detect.Detector, error) {
	tables, err := loadTables(&cfg)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	dcfg := cfg.detectorConfig()
	det, err := detect.New(dcfg, tables)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	if tables.Inventory != nil {
		a.logger.Debug("inventory loaded", "file", cfg.Inventory.File, "entries", tables.Inventory.Len())
		r := &watch.Reloader{
			Path:     cfg.Inventory.File,
			Interval: cfg.Inventory.ReloadInterval,
			Logger:   a.logger,
			Load: func(path string) error {
				inv, err := inventory.ParseFile(path)
				if err != nil {
					return err
				}
				det.SetInventory(inv)
				a.logger.Info("inventory reloaded", "file", path, "entries", inv.Len())
				return nil
			},
		}
		go func() { _ = r.Run(ctx) }() // ends with ctx
		watch.NotifyHUP(ctx, r)
	}
	return det, nil
}

// alertSink receives alerts for Alertmanager.
type alertSink interface{ send(*event.Alert) }

type noAlerts struct{}

func (noAlerts) send(*event.Alert) {}

// amSink posts alerts to Alertmanager in the background.
type amSink struct {
	sender *alertmanager.Sender
	cancel context.CancelFunc
	once   sync.Once
	a      *app
}

func (s *amSink) send(al *event.Alert) {
	if !s.sender.Send(al) {
		s.a.logger.Warn("alertmanager queue full; alert dropped", "alert", al.ID)
	}
}

// close flushes the queue for at most the request timeout and stops.
func (s *amSink) close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.sender.Close(ctx); err != nil {
			s.a.logger.Warn("alertmanager: not every alert was delivered", "err", err)
		}
		st := s.sender.Stats()
		s.a.logger.Info("alertmanager", "sent", st.Sent, "failed", st.Failed, "dropped", st.Dropped)
		s.cancel()
	})
}

func (a *app) startAlertmanager(ctx context.Context, cfg fileConfig) (*amSink, error) {
	am := cfg.Alerts.Alertmanager
	labels := map[string]string{}
	for _, kv := range am.Labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, &exitError{exitUsage, fmt.Errorf("alerts.alertmanager.labels: %q is not name=value", kv)}
		}
		labels[k] = v
	}
	c, err := alertmanager.NewClient(alertmanager.Config{URL: am.URL, Timeout: am.Timeout, Hold: am.Hold, Labels: labels})
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("alerts.alertmanager: %w", err)}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &amSink{sender: alertmanager.NewSender(c, a.logger), cancel: cancel, a: a}
	s.sender.Start(sctx)
	return s, nil
}
