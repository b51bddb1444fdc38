package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mxwatch/mxwatch/dashboards"
)

func (a *app) explainCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain-reply [TEXT...]",
		Short: "Explain an SMTP reply or bounce text: blocklist or provider, kind, advice",
		Long: `explain-reply reads an SMTP reply or an excerpt of a bounce (pasted as
arguments, or from standard input when there are none or the only one is
"-") and says what it means: which blocklist or mailbox provider rejected
the mail, for what kind of reason (listed, reputation, rate limit,
policy, authentication ...), where the operator documents it, and what
to do. It reads the same signature table that analyze uses to tag
rejections (the embedded table, merged with detect.signatures).`,
		Example: `  mxwatch explain-reply "550 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org"
  mxwatch explain-reply < bounce.txt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			text := strings.Join(args, " ")
			if len(args) == 0 || (len(args) == 1 && args[0] == "-") {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				if err != nil {
					return &exitError{exitFailure, fmt.Errorf("reading standard input: %w", err)}
				}
				text = string(b)
			}
			if strings.TrimSpace(text) == "" {
				return &exitError{exitUsage, errors.New("no reply text: pass it as arguments or on standard input")}
			}
			tables, err := loadTables(&a.cfg)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
			}
			e := tables.Signatures.Explain(text)
			if asJSON {
				return dashboards.WriteJSON(cmd.OutOrStdout(), e)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), e.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	return cmd
}
