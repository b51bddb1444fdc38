package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestNothingSecretInAnyOutput runs analyze on generated captures that
// carry AUTH credentials (LOGIN and PLAIN), message bodies, subjects and
// recipients, with every output on (report, debug log, events file,
// Kafka), and greps all of it. Credentials and bodies must never appear;
// recipient local parts and subjects appear only when the configuration
// keeps them.
func TestNothingSecretInAnyOutput(t *testing.T) {
	files := []string{scenarioCapture(t, "smtp-auth-25"), scenarioCapture(t, "smtp-587-submission"), scenarioCapture(t, "classes")}
	never := []string{
		"S3cr3t-relay-pass", "correct horse battery staple", "apikey-7731",
		base64.StdEncoding.EncodeToString([]byte("apikey-7731")),
		base64.StdEncoding.EncodeToString([]byte("S3cr3t-relay-pass")),
		base64.StdEncoding.EncodeToString([]byte("\x00lena@example.com\x00correct horse battery staple")),
		"wir bestätigen Ihre Buchung", "anbei der Link zu den Fotos",
	}
	personal := []string{"gast@example.com", "tom@example.net", "Ihre Buchung vom", "Fotos vom Wochenende"}
	keyFile := filepath.Join(t.TempDir(), "hmac.key")
	if err := os.WriteFile(keyFile, []byte("a-test-key-of-32-bytes-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		keep bool
	}{
		{name: "keep", keep: true},
		{name: "drop", env: map[string]string{"MXWATCH_PRIVACY_RECIPIENTS": "drop", "MXWATCH_PRIVACY_SUBJECTS": "drop"}},
		{name: "hash", env: map[string]string{"MXWATCH_PRIVACY_RECIPIENTS": "hash", "MXWATCH_PRIVACY_SUBJECTS": "hash",
			"MXWATCH_PRIVACY_HMAC_KEY_FILE": keyFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Setenv("MXWATCH_KAFKA_SPOOL_DIR", filepath.Join(t.TempDir(), "spool"))
			t.Setenv("MXWATCH_KAFKA_PARTITIONS", "1")
			events := filepath.Join(t.TempDir(), "events.jsonl")
			var outputs []string
			for _, format := range []string{"text", "json"} {
				code, out, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", "--log-level", "debug", "--progress", "never",
					"--format", format, "--events", events, "--kafka", strings.Join(c.ListenAddrs(), ","), files[0], files[1])
				if code != exitOK {
					t.Fatalf("analyze: exit %d: %s", code, errs)
				}
				ev, err := os.ReadFile(events)
				if err != nil {
					t.Fatal(err)
				}
				outputs = append(outputs, out, errs, string(ev))
			}
			code, out, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", "--report", "impact", "--format", "csv", files[2])
			if code != exitOK {
				t.Fatalf("analyze --report: exit %d: %s", code, errs)
			}
			outputs = append(outputs, out, errs)
			// Everything that went to Kafka.
			for _, kind := range []string{"session", "message", "dns", "finding", "alert"} {
				r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.ListenAddrs(), Topic: "mxwatch." + kind, Partition: 0, MaxWait: 50 * time.Millisecond})
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				for {
					m, err := r.ReadMessage(ctx)
					if err != nil {
						break
					}
					outputs = append(outputs, string(m.Value))
				}
				cancel()
				r.Close()
			}
			all := strings.Join(outputs, "\n")
			if !strings.Contains(all, "booking@ferienhaus-alpen.example") || !strings.Contains(all, "example.net") ||
				!strings.Contains(all, `"mechanism":"LOGIN"`) || !strings.Contains(all, `"mechanism":"PLAIN"`) {
				t.Fatalf("outputs lack what is always kept (sender, domains): the grep would prove nothing")
			}
			for _, s := range never {
				if strings.Contains(all, s) {
					t.Errorf("%q appears in an output", s)
				}
			}
			for _, s := range personal {
				if got := strings.Contains(all, s); got != tc.keep {
					t.Errorf("%q in outputs: %v, want %v", s, got, tc.keep)
				}
			}
			if tc.name == "hash" && !strings.Contains(all, "h-") {
				t.Error("no hash tokens in the outputs")
			}
		})
	}
}

func TestPrivacyConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"hash without key", map[string]string{"MXWATCH_PRIVACY_SUBJECTS": "hash"}, "hash needs a key"},
		{"unknown mode", map[string]string{"MXWATCH_PRIVACY_RECIPIENTS": "scramble"}, "not keep, hash or drop"},
		{"missing key file", map[string]string{"MXWATCH_PRIVACY_RECIPIENTS": "hash", "MXWATCH_PRIVACY_HMAC_KEY_FILE": "/nonexistent/key"}, "hmac_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, errs := mxwatch(t, "analyze", "--config", "/dev/null", demo)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, exitUsage, tc.want)
			}
		})
	}
}
