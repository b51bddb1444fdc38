package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/internal/privacy"
)

// liveKeys are the configuration keys (and key prefixes) a running
// capture applies on SIGHUP. Everything else (interface, workers, rings,
// capture bounds, Kafka, metrics, pairing and alert windows) is wired into
// state that lives as long as the process: a change there is logged as
// needing a restart, and the running value stays.
var liveKeys = []string{
	"log.level",
	"platform.",         // networks, relays, smarthosts, submission ports, relay headers, egress
	"detect.signatures", // reply signature file
	"detect.groups",     // provider group file
	"privacy.",          // recipients, subjects, HMAC key
	"inventory.file",    // its content is reloaded on change anyway
	"inventory.reload_interval",
}

func isLiveKey(key string) bool {
	for _, k := range liveKeys {
		if key == k || strings.HasSuffix(k, ".") && strings.HasPrefix(key, k) {
			return true
		}
	}
	return false
}

// configDiff returns the keys (as in the file: "platform.relays") whose
// values differ between a and b, in field order. Values are never
// returned, so secrets cannot leak through it.
func configDiff(a, b fileConfig) []string {
	var keys []string
	var walk func(prefix string, x, y reflect.Value)
	walk = func(prefix string, x, y reflect.Value) {
		t := x.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			fx, fy := x.Field(i), y.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
				walk(key+".", fx, fy)
				continue
			}
			if !reflect.DeepEqual(fx.Interface(), fy.Interface()) {
				keys = append(keys, key)
			}
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return keys
}

// liveUpdate is a reloaded configuration, validated and compiled, ready
// for the detector's goroutine to apply.
type liveUpdate struct {
	cfg      fileConfig
	level    slog.Level
	platform detect.PlatformConfig
	tables   detect.Tables // signatures and groups; the inventory has its own reloader
	priv     *privacy.Filter
	applied  []string // keys that changed and are applied
	restart  []string // keys that changed and need a restart
}

// prepareReload reads the configuration again (file and environment;
// flags keep their values) and compiles the parts a running capture can
// take. On error nothing is to change.
func (a *app) prepareReload() (*liveUpdate, error) {
	cfg, used, err := loadConfig(a.v, a.configPath)
	if err != nil {
		return nil, err
	}
	if used != "" && used != os.DevNull {
		cfg.resolvePaths(filepath.Dir(used))
	}
	u := &liveUpdate{cfg: cfg, platform: cfg.Platform}
	if u.level, err = parseLevel(cfg.Log.Level); err != nil {
		return nil, err
	}
	if err := cfg.Platform.Validate(); err != nil {
		return nil, err
	}
	if u.tables, err = loadReplyTables(&cfg); err != nil {
		return nil, err
	}
	if u.priv, err = cfg.privacyFilter(); err != nil {
		return nil, err
	}
	for _, k := range configDiff(a.loaded, cfg) {
		if isLiveKey(k) {
			u.applied = append(u.applied, k)
		} else {
			u.restart = append(u.restart, k)
		}
	}
	return u, nil
}

// commit records that u is in force: the next reload compares with it.
// Only watchReload's goroutine calls prepareReload and commit.
// Keys that need a restart keep their running values, so they are
// reported again until the process restarts.
func (a *app) commit(u *liveUpdate) {
	a.level.Set(u.level)
	l := &a.loaded
	l.Log.Level = u.cfg.Log.Level
	l.Platform = u.cfg.Platform
	l.Detect.Signatures, l.Detect.Groups = u.cfg.Detect.Signatures, u.cfg.Detect.Groups
	l.Privacy = u.cfg.Privacy
	l.Inventory = u.cfg.Inventory
}

// watchReload turns each SIGHUP into a prepared update sent to updates,
// until ctx ends. Failures are logged and counted; the running
// configuration stays.
func (a *app) watchReload(ctx context.Context, updates chan<- *liveUpdate, failed func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		u, err := a.prepareReload()
		if err != nil {
			failed()
			a.logger.Error("configuration reload failed; the running configuration stays", "err", err)
			continue
		}
		select {
		case updates <- u:
			a.commit(u)
		case <-ctx.Done():
			return
		}
	}
}

// logReload says what a reload changed.
func (a *app) logReload(u *liveUpdate) {
	a.logger.Info("configuration reloaded", "applied", strings.Join(nonEmpty(u.applied), ","))
	if len(u.restart) > 0 {
		a.logger.Warn("configuration changes that take effect only after a restart", "keys", strings.Join(u.restart, ","))
	}
}

func nonEmpty(keys []string) []string {
	if len(keys) == 0 {
		return []string{"(nothing changed)"}
	}
	return slices.Clip(keys)
}
