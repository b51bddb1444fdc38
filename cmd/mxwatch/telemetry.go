package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mxwatch/mxwatch/internal/telemetry"
)

type metricsConfig struct {
	Listen          string `mapstructure:"listen"`
	BearerToken     string `mapstructure:"bearer_token"`
	BearerTokenFile string `mapstructure:"bearer_token_file"`
}

// startTelemetry starts the metrics endpoint when metrics.listen is set.
// The caller registers its sources on stages and its gauges on the server
// before scrapes matter, and calls stop at the end.
func (a *app) startTelemetry(stages *telemetry.Stages, ready func() error, gauges func(*telemetry.Server)) (stop func(), err error) {
	m := a.cfg.Metrics
	token := m.BearerToken
	if m.BearerTokenFile != "" {
		b, err := os.ReadFile(m.BearerTokenFile)
		if err != nil {
			return nil, &exitError{exitUsage, fmt.Errorf("metrics.bearer_token_file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
	}
	s := telemetry.New(telemetry.Config{Listen: m.Listen, BearerToken: token}, stages, ready, a.logger)
	if gauges != nil {
		gauges(s)
	}
	if err := s.Start(); err != nil {
		return nil, &exitError{exitFailure, err}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}, nil
}
