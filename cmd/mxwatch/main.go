// Command mxwatch is a passive SMTP and DNS analyzer for hosting platforms:
// it finds hosts that send mail directly to recipients' MX servers.
//
// This package only wires the other packages together: configuration,
// logging, the command line and the stages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1 // the job ran but could not finish cleanly (corrupt input, write error)
	exitUsage       = 2 // bad flags, arguments or configuration
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// app holds what every subcommand shares.
type app struct {
	v          *viper.Viper
	configPath string
	cfg        fileConfig
	// loaded is the configuration as read from file and environment
	// before a command's flags changed it; a reload compares against it.
	loaded     fileConfig
	level      slog.LevelVar // the logger's level; a reload may change it
	logger     *slog.Logger
	stdout     io.Writer
	stderr     io.Writer
	cpuProfile string
	memProfile string
	// analyze --report
	report  string
	rollout rolloutFlags
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{v: newViper(), stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "mxwatch: %v\n", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors: unknown command or flag, wrong arguments.
	fmt.Fprintf(stderr, "mxwatch: %v\nRun 'mxwatch --help' for usage.\n", err)
	return exitUsage
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "mxwatch",
		Short: "Find hosts that send mail directly to MX servers, from mirrored traffic",
		Long: `mxwatch watches a mirror port (or reads captures), reassembles SMTP
sessions and DNS lookups, and reports which hosts send mail directly to
recipients' MX servers ("direct-to-MX"), the signature of spam scripts on
compromised hosting accounts.

Configuration comes from a YAML file (--config, or the first of
./mxwatch.yaml, $XDG_CONFIG_HOME/mxwatch/mxwatch.yaml, /etc/mxwatch/mxwatch.yaml),
then MXWATCH_* environment variables (MXWATCH_CAPTURE_TCP_MAX_FLOWS=200000),
then flags. 'mxwatch config example' prints every key with its default.`,
		Example: `  mxwatch analyze testdata/direct-to-mx.pcap
  mxwatch analyze --events events.jsonl day1.pcap.gz day2.pcapng
  mxwatch config example > mxwatch.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "configuration file (default: first of the search path that exists)")
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().String("sensor", "", "sensor name written on every event")
	must(a.v.BindPFlag("log.level", root.PersistentFlags().Lookup("log-level")))
	must(a.v.BindPFlag("sensor", root.PersistentFlags().Lookup("sensor")))

	root.AddCommand(a.analyzeCommand(), a.explainCommand(), a.rblCommand(), a.captureCommand(), a.migrateCommand(), a.sinkCommand(), a.reportCommand(), a.versionCommand(), a.configCommand(), a.healthcheckCommand())
	return root
}

// setup loads the configuration and builds the logger; it runs before
// every subcommand.
func (a *app) setup(cmd *cobra.Command) error {
	if cmd.Annotations["noconfig"] == "true" {
		a.logger = slog.New(slog.DiscardHandler)
		return nil
	}
	cfg, used, err := loadConfig(a.v, a.configPath)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	if used != "" && used != os.DevNull {
		cfg.resolvePaths(filepath.Dir(used))
	}
	a.cfg, a.loaded = cfg, cfg
	logger, err := newLogger(a.stderr, cfg.Log, &a.level)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	a.logger = logger
	if used != "" {
		logger.Debug("configuration loaded", "file", used)
	}
	return nil
}

// newLogger builds the logger of cfg; its level is set into level, which
// can change it later.
func newLogger(w io.Writer, cfg logConfig, level *slog.LevelVar) (*slog.Logger, error) {
	l, err := parseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.Format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format: %q is neither text nor json", cfg.Format)
}

func parseLevel(s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return level, fmt.Errorf("log.level: %w", err)
	}
	return level, nil
}

func must(err error) {
	if err != nil {
		panic(err) // programming error: a flag bound twice or missing
	}
}
