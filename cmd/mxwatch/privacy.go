package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/internal/privacy"
)

type privacyConfig struct {
	Recipients  string `mapstructure:"recipients"`
	Subjects    string `mapstructure:"subjects"`
	HMACKey     string `mapstructure:"hmac_key"`
	HMACKeyFile string `mapstructure:"hmac_key_file"`
}

// privacyFilter builds the filter every event passes before any output.
func (f *fileConfig) privacyFilter() (*privacy.Filter, error) {
	p := f.Privacy
	cfg := privacy.Config{Recipients: privacy.Mode(p.Recipients), Subjects: privacy.Mode(p.Subjects), Key: []byte(p.HMACKey)}
	if p.HMACKeyFile != "" {
		if p.HMACKey != "" {
			return nil, fmt.Errorf("privacy: set hmac_key or hmac_key_file, not both")
		}
		b, err := os.ReadFile(p.HMACKeyFile)
		if err != nil {
			return nil, fmt.Errorf("privacy.hmac_key_file: %w", err)
		}
		cfg.Key = bytes.TrimRight(b, "\r\n")
	}
	return privacy.New(cfg)
}

// captureSetup is what analyze and capture share before the first packet:
// the sensor name (the host name by default), the privacy filter and a
// checked capture configuration. Errors are usage errors.
func (f *fileConfig) captureSetup() (*privacy.Filter, capture.Config, error) {
	if f.Sensor == "" {
		f.Sensor, _ = os.Hostname()
	}
	priv, err := f.privacyFilter()
	if err != nil {
		return nil, capture.Config{}, &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	ccfg := f.captureConfig()
	if err := ccfg.Validate(); err != nil {
		return nil, capture.Config{}, &exitError{exitUsage, fmt.Errorf("configuration: capture: %w", err)}
	}
	return priv, ccfg, nil
}
