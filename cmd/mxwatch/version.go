package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func versionString() string {
	rev := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("mxwatch %s%s (%s, %s/%s)", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:         "version",
		Short:       "Print the version",
		Example:     "  mxwatch version",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{"noconfig": "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
}

func (a *app) configCommand() *cobra.Command {
	cfg := &cobra.Command{
		Use:   "config",
		Short: "Show the configuration",
	}
	cfg.AddCommand(&cobra.Command{
		Use:         "example",
		Short:       "Print an example configuration file documenting every key and its default",
		Example:     "  mxwatch config example > /etc/mxwatch/mxwatch.yaml",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{"noconfig": "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), exampleConfig)
			return err
		},
	}, &cobra.Command{
		Use:     "show",
		Short:   "Print the effective configuration (defaults, file, environment and flags merged; secrets masked)",
		Example: "  MXWATCH_CAPTURE_TCP_MAX_FLOWS=5000 mxwatch config show",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeYAML(cmd.OutOrStdout(), maskSecrets(a.v.AllSettings()))
		},
	})
	return cfg
}

// maskSecrets replaces the values of keys that hold secrets (passwords)
// with "*****" when they are set, so that the output can be shared.
func maskSecrets(m map[string]any) map[string]any {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			m[k] = maskSecrets(x)
		case string:
			if x != "" && (strings.Contains(k, "password") || strings.Contains(k, "secret") || k == "hmac_key" || k == "bearer_token") {
				m[k] = "*****"
			}
		}
	}
	return m
}
