package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCommand probes the /readyz endpoint of a running sink or
// capture (metrics.listen), so that container runtimes can check images
// that have no shell or HTTP client of their own.
func (a *app) healthcheckCommand() *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if a running mxwatch answers ready on its metrics endpoint, 1 if not",
		Long: `healthcheck asks the /readyz endpoint of a running mxwatch sink or
capture (served on metrics.listen) and exits 0 when it answers 200, 1
otherwise, printing why. It is meant for container health checks.`,
		Example:     `  mxwatch healthcheck --url http://127.0.0.1:9110/readyz`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{"noconfig": "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("--url: %w", err)}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return &exitError{exitFailure, fmt.Errorf("not healthy: %w", err)}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusOK {
				return &exitError{exitFailure, fmt.Errorf("not ready: %s: %s", resp.Status, strings.TrimSpace(string(body)))}
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(body)))
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:9110/readyz", "readiness endpoint to ask")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
