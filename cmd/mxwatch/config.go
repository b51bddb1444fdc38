package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/detect"
)

// exampleConfig documents every key with its default. A test checks that
// it names exactly the keys of fileConfig and that its values are the
// defaults.
//
//go:embed mxwatch.example.yaml
var exampleConfig string

// fileConfig is the configuration file's layout. Every key can also be set
// by an environment variable: MXWATCH_ + the key path in upper case with "."
// as "_" (MXWATCH_CAPTURE_TCP_MAX_FLOWS=200000), and some by flags.
type fileConfig struct {
	Sensor     string                `mapstructure:"sensor"`
	Log        logConfig             `mapstructure:"log"`
	Capture    captureConfig         `mapstructure:"capture"`
	Platform   detect.PlatformConfig `mapstructure:"platform"`
	Inventory  inventoryConfig       `mapstructure:"inventory"`
	Detect     detectConfig          `mapstructure:"detect"`
	Alerts     alertsConfig          `mapstructure:"alerts"`
	RBL        rblConfig             `mapstructure:"rbl"`
	Kafka      kafkaConfig           `mapstructure:"kafka"`
	ClickHouse clickhouseConfig      `mapstructure:"clickhouse"`
	Sink       sinkConfig            `mapstructure:"sink"`
	Privacy    privacyConfig         `mapstructure:"privacy"`
	Metrics    metricsConfig         `mapstructure:"metrics"`
	Live       liveConfig            `mapstructure:"live"`
	Analyze    analyzeConfig         `mapstructure:"analyze"`
}

type logConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

type captureConfig struct {
	MailPorts        []uint16     `mapstructure:"mail_ports"`
	ImplicitTLSPorts []uint16     `mapstructure:"implicit_tls_ports"`
	DNSPorts         []uint16     `mapstructure:"dns_ports"`
	VXLANPorts       []uint16     `mapstructure:"vxlan_ports"`
	GenevePorts      []uint16     `mapstructure:"geneve_ports"`
	GREUDPPorts      []uint16     `mapstructure:"gre_udp_ports"`
	TCP              tcpConfig    `mapstructure:"tcp"`
	SMTP             smtpConfig   `mapstructure:"smtp"`
	DNS              dnsConfig    `mapstructure:"dns"`
	Defrag           defragConfig `mapstructure:"defrag"`
}

type tcpConfig struct {
	MaxFlows             int           `mapstructure:"max_flows"`
	MaxBufferedBytes     int           `mapstructure:"max_buffered_bytes"`
	MaxFlowBufferedBytes int           `mapstructure:"max_flow_buffered_bytes"`
	IdleTimeout          time.Duration `mapstructure:"idle_timeout"`
	HandshakeTimeout     time.Duration `mapstructure:"handshake_timeout"`
	ReorderTimeout       time.Duration `mapstructure:"reorder_timeout"`
}

type smtpConfig struct {
	MaxLineBytes    int `mapstructure:"max_line_bytes"`
	MaxReplyLines   int `mapstructure:"max_reply_lines"`
	MaxReplies      int `mapstructure:"max_replies"`
	MaxRecipients   int `mapstructure:"max_recipients"`
	MaxHeaderBytes  int `mapstructure:"max_header_bytes"`
	MaxHeaderValue  int `mapstructure:"max_header_value"`
	MaxPendingBytes int `mapstructure:"max_pending_bytes"`
	MaxExtensions   int `mapstructure:"max_extensions"`
	MaxPipeline     int `mapstructure:"max_pipeline"`
}

type dnsConfig struct {
	KeepTypes    []string      `mapstructure:"keep_types"`
	MaxPending   int           `mapstructure:"max_pending"`
	QueryTimeout time.Duration `mapstructure:"query_timeout"`
	MaxRecords   int           `mapstructure:"max_records"`
}

type defragConfig struct {
	MaxDatagrams int           `mapstructure:"max_datagrams"`
	MaxBytes     int           `mapstructure:"max_bytes"`
	Timeout      time.Duration `mapstructure:"timeout"`
}

type analyzeConfig struct {
	Events   string `mapstructure:"events"`
	Format   string `mapstructure:"format"`
	Top      int    `mapstructure:"top"`
	Progress string `mapstructure:"progress"`
}

// defaultFileConfig is the configuration when nothing is set: the
// packages' own defaults.
func defaultFileConfig() fileConfig {
	c := capture.DefaultConfig()
	return fileConfig{
		Sensor: "",
		Log:    logConfig{Level: "info", Format: "text"},
		Capture: captureConfig{
			MailPorts:        c.MailPorts,
			ImplicitTLSPorts: c.ImplicitTLSPorts,
			DNSPorts:         c.DNSPorts,
			VXLANPorts:       c.VXLANPorts,
			GenevePorts:      c.GenevePorts,
			GREUDPPorts:      c.GREUDPPorts,
			TCP: tcpConfig{
				MaxFlows:             c.TCP.MaxFlows,
				MaxBufferedBytes:     c.TCP.MaxBufferedBytes,
				MaxFlowBufferedBytes: c.TCP.MaxFlowBufferedBytes,
				IdleTimeout:          c.TCP.IdleTimeout,
				HandshakeTimeout:     c.TCP.HandshakeTimeout,
				ReorderTimeout:       c.TCP.ReorderTimeout,
			},
			SMTP: smtpConfig{
				MaxLineBytes:    c.SMTP.MaxLineBytes,
				MaxReplyLines:   c.SMTP.MaxReplyLines,
				MaxReplies:      c.SMTP.MaxReplies,
				MaxRecipients:   c.SMTP.MaxRecipients,
				MaxHeaderBytes:  c.SMTP.MaxHeaderBytes,
				MaxHeaderValue:  c.SMTP.MaxHeaderValue,
				MaxPendingBytes: c.SMTP.MaxPendingBytes,
				MaxExtensions:   c.SMTP.MaxExtensions,
				MaxPipeline:     c.SMTP.MaxPipeline,
			},
			DNS: dnsConfig{
				KeepTypes:    c.DNS.KeepTypes,
				MaxPending:   c.DNS.MaxPending,
				QueryTimeout: c.DNS.QueryTimeout,
				MaxRecords:   c.DNS.MaxRecords,
			},
			Defrag: defragConfig{
				MaxDatagrams: c.Defrag.MaxDatagrams,
				MaxBytes:     c.Defrag.MaxBytes,
				Timeout:      c.Defrag.Timeout,
			},
		},
		Platform:   detect.DefaultPlatformConfig(),
		Inventory:  inventoryConfig{ReloadInterval: 5 * time.Second},
		Detect:     defaultDetectConfig(),
		Alerts:     defaultAlertsConfig(),
		RBL:        defaultRBLConfig(),
		Kafka:      defaultKafkaConfig(),
		ClickHouse: defaultClickHouseConfig(),
		Sink:       defaultSinkConfig(),
		Privacy:    privacyConfig{Recipients: "keep", Subjects: "keep"},
		Metrics:    metricsConfig{},
		Live:       defaultLiveConfig(),
		Analyze: analyzeConfig{
			Events:   "",
			Format:   "text",
			Top:      detect.DefaultSummaryConfig().Top,
			Progress: "auto",
		},
	}
}

// captureConfig converts the file's capture section for the engine.
func (f *fileConfig) captureConfig() capture.Config {
	c := capture.DefaultConfig()
	fc := &f.Capture
	c.Sensor = f.Sensor
	c.MailPorts, c.ImplicitTLSPorts, c.DNSPorts = fc.MailPorts, fc.ImplicitTLSPorts, fc.DNSPorts
	c.VXLANPorts, c.GenevePorts, c.GREUDPPorts = fc.VXLANPorts, fc.GenevePorts, fc.GREUDPPorts
	c.TCP = capture.TCPConfig{
		MaxFlows:             fc.TCP.MaxFlows,
		MaxBufferedBytes:     fc.TCP.MaxBufferedBytes,
		MaxFlowBufferedBytes: fc.TCP.MaxFlowBufferedBytes,
		IdleTimeout:          fc.TCP.IdleTimeout,
		HandshakeTimeout:     fc.TCP.HandshakeTimeout,
		ReorderTimeout:       fc.TCP.ReorderTimeout,
	}
	s := &c.SMTP
	s.MaxLineBytes, s.MaxReplyLines, s.MaxReplies = fc.SMTP.MaxLineBytes, fc.SMTP.MaxReplyLines, fc.SMTP.MaxReplies
	s.MaxRecipients, s.MaxHeaderBytes, s.MaxHeaderValue = fc.SMTP.MaxRecipients, fc.SMTP.MaxHeaderBytes, fc.SMTP.MaxHeaderValue
	s.MaxPendingBytes, s.MaxExtensions, s.MaxPipeline = fc.SMTP.MaxPendingBytes, fc.SMTP.MaxExtensions, fc.SMTP.MaxPipeline
	c.DNS.KeepTypes, c.DNS.MaxPending = fc.DNS.KeepTypes, fc.DNS.MaxPending
	c.DNS.QueryTimeout, c.DNS.MaxRecords = fc.DNS.QueryTimeout, fc.DNS.MaxRecords
	c.Defrag.MaxDatagrams, c.Defrag.MaxBytes, c.Defrag.Timeout = fc.Defrag.MaxDatagrams, fc.Defrag.MaxBytes, fc.Defrag.Timeout
	return c
}

// configSearchPath lists where a configuration file is looked for when
// --config is not given, in order; the first that exists is used.
func configSearchPath() []string {
	paths := []string{"mxwatch.yaml"}
	if dir, err := os.UserConfigDir(); err == nil {
		paths = append(paths, filepath.Join(dir, "mxwatch", "mxwatch.yaml"))
	}
	return append(paths, "/etc/mxwatch/mxwatch.yaml")
}

// newViper returns a viper instance with every key's default registered,
// so that MXWATCH_* environment variables reach keys that the file does
// not mention.
func newViper() *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix("MXWATCH")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	setDefaults(v, "", reflect.ValueOf(defaultFileConfig()))
	return v
}

func setDefaults(v *viper.Viper, prefix string, rv reflect.Value) {
	rt := rv.Type()
	for i := range rt.NumField() {
		key := rt.Field(i).Tag.Get("mapstructure")
		if prefix != "" {
			key = prefix + "." + key
		}
		if fv := rv.Field(i); fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Duration]() {
			setDefaults(v, key, fv)
		} else {
			v.SetDefault(key, fv.Interface())
		}
	}
}

// configKeys lists every key of fileConfig, in declaration order.
func configKeys(prefix string, rt reflect.Type) []string {
	var keys []string
	for i := range rt.NumField() {
		key := rt.Field(i).Tag.Get("mapstructure")
		if prefix != "" {
			key = prefix + "." + key
		}
		if ft := rt.Field(i).Type; ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
			keys = append(keys, configKeys(key, ft)...)
		} else {
			keys = append(keys, key)
		}
	}
	return keys
}

var errConfigNotFound = errors.New("configuration file not found")

// loadConfig reads the configuration: defaults, then the file (path, or
// the first file of the search path that exists), then MXWATCH_*
// environment variables, then flags already bound to v. Unknown keys in
// the file are errors.
func loadConfig(v *viper.Viper, path string) (fileConfig, string, error) {
	var cfg fileConfig
	used := ""
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return cfg, "", fmt.Errorf("%w: %w", errConfigNotFound, err)
		}
		used = path
	} else {
		for _, p := range configSearchPath() {
			if _, err := os.Stat(p); err == nil {
				used = p
				break
			}
		}
	}
	if used != "" {
		v.SetConfigFile(used)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return cfg, used, fmt.Errorf("reading %s: %w", used, err)
		}
	}
	if err := v.UnmarshalExact(&cfg); err != nil {
		where := "configuration"
		if used != "" {
			where = used
		}
		// mapstructure's message spans lines; keep the error on one.
		return cfg, used, fmt.Errorf("%s: %s", where, strings.Join(strings.Fields(err.Error()), " "))
	}
	return cfg, used, nil
}
