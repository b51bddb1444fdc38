package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig: any bytes as the configuration file give a
// configuration or an error naming the file, never a panic; what loads
// also survives the checks the commands run on it (capture bounds,
// platform, privacy, the live sensor's dnstap keys, the reload diff).
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte("platform:\n  networks: [10.20.0.0/16]\n  relays: [10.20.0.25, relay.example]\n"))
	f.Add([]byte("capture:\n  tcp:\n    max_flows: -1\n"))
	f.Add([]byte("live:\n  dnstap:\n    listen: [\"unix:/x\"]\n    socket_mode: \"0999\"\n"))
	f.Add([]byte("privacy:\n  recipients: hash\n  hmac_key: 0123456789abcdef\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("\x00\xff: ["))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "mxwatch.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := loadConfig(newViper(), path)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		cc := cfg.captureConfig()
		_ = cc.Validate()
		_ = cfg.Platform.Validate()
		if cfg.Privacy.HMACKeyFile == "" { // never read files the input names
			_, _ = cfg.privacyFilter()
		}
		_, _ = cfg.Live.DNSTap.config(cfg)
		_, _ = parseLevel(cfg.Log.Level)
		_ = configDiff(defaultFileConfig(), cfg)
	})
}
