package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mxwatch/mxwatch/event"
)

// Bounds on what one alert sends (see the package doc).
const (
	maxLabelValue      = 256
	maxAnnotationValue = 2048
	maxListItems       = 10
	ellipsis           = "…"
)

// postableAlert is one element of the POST /api/v2/alerts body
// (Alertmanager's postableAlert).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// encodeStats counts what encoding left out.
type encodeStats struct {
	// alerts is the number of alerts in the body (nil alerts are skipped).
	alerts int
	// truncated counts values and lists cut to their bound.
	truncated int
}

// Payload returns the JSON body that posts alerts to Alertmanager, as
// described in the package doc; now is the wall-clock time of sending,
// from which endsAt is computed. Nil alerts are skipped. Payload is pure:
// the same arguments give the same bytes.
func Payload(alerts []*event.Alert, cfg Config, now time.Time) ([]byte, error) {
	body, _, err := encode(alerts, cfg, now)
	return body, err
}

func encode(alerts []*event.Alert, cfg Config, now time.Time) ([]byte, encodeStats, error) {
	var st encodeStats
	cfg = cfg.WithDefaults()
	if err := cfg.validatePayload(); err != nil {
		return nil, st, err
	}
	if now.IsZero() {
		return nil, st, errors.New("alertmanager: payload: zero sending time")
	}
	out := make([]postableAlert, 0, len(alerts))
	for _, a := range alerts {
		if a == nil {
			continue
		}
		out = append(out, toPostable(a, cfg, now, &st.truncated))
	}
	st.alerts = len(out)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, st, fmt.Errorf("alertmanager: encoding payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), st, nil
}

func toPostable(a *event.Alert, cfg Config, now time.Time, truncated *int) postableAlert {
	labels := make(map[string]string, 10+len(cfg.Labels))
	setLabel := func(name, value string) {
		if v := clean(value, maxLabelValue, truncated); v != "" {
			labels[name] = v
		}
	}
	for name, value := range cfg.Labels {
		setLabel(name, value)
	}
	setLabel("alertname", alertName(a.Rule))
	setLabel("severity", string(a.Severity))
	setLabel("scope", a.Scope)
	setLabel("source", a.Source)
	setLabel("group", a.Group)
	setLabel("metric", a.Metric)
	setLabel("rule", a.Rule)
	setLabel("customer", a.Customer)
	if a.Host.IsValid() {
		setLabel("host", a.Host.String())
	}
	setLabel("sensor", a.Sensor)

	annotations := make(map[string]string, 6)
	setAnnotation := func(name, value string) {
		if v := clean(value, maxAnnotationValue, truncated); v != "" {
			annotations[name] = v
		}
	}
	setAnnotation("summary", a.Summary)
	setAnnotation("description", description(a))
	setAnnotation("top_scripts", joinList(a.TopScripts, truncated))
	setAnnotation("top_domains", joinList(a.TopDomains, truncated))
	setAnnotation("top_rejections", joinList(a.TopRejections, truncated))
	setAnnotation("mxwatch_id", a.ID)

	start := a.WindowStart
	if start.IsZero() {
		start = a.Time
	}
	if start.Unix() < 0 || start.After(now) { // before 1970: a bogus packet time
		start = now
	}
	return postableAlert{
		Labels:       labels,
		Annotations:  annotations,
		StartsAt:     formatTime(start),
		EndsAt:       formatTime(now.Add(cfg.Hold)),
		GeneratorURL: cfg.GeneratorURL,
	}
}

// alertName maps a rule to the alertname label.
func alertName(rule string) string {
	switch rule {
	case "spike":
		return "MxwatchSpike"
	case "rejections":
		return "MxwatchBlocklistRejections"
	}
	return "Mxwatch" + camelCase(rule)
}

// camelCase keeps the ASCII letters and digits of s, upper-casing the
// first of each word ("slow-drip" becomes "SlowDrip"); other ASCII
// characters separate words, non-ASCII ones are dropped. The result has at
// most maxLabelValue/2 bytes.
func camelCase(s string) string {
	var b strings.Builder
	upper := true
	for i := 0; i < len(s) && b.Len() < maxLabelValue/2; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			if upper {
				c -= 'a' - 'A'
			}
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c >= utf8.RuneSelf: // part of a non-ASCII letter: dropped
			continue
		default:
			upper = true
			continue
		}
		b.WriteByte(c)
		upper = false
	}
	return b.String()
}

// description says how far the observation was above the baseline, in
// which window.
func description(a *event.Alert) string {
	var b strings.Builder
	metric := a.Metric
	if metric == "" {
		metric = "value"
	}
	fmt.Fprintf(&b, "%s %s observed vs baseline %s (threshold %s)",
		formatNumber(a.Observed), metric, formatNumber(a.Baseline), formatNumber(a.Threshold))
	if a.Group != "" {
		fmt.Fprintf(&b, " towards %s", a.Group)
	}
	window := a.Window
	if window <= 0 && !a.WindowStart.IsZero() && !a.Time.IsZero() {
		window = a.Time.Sub(a.WindowStart)
	}
	if window > 0 {
		fmt.Fprintf(&b, " in a %v window", window)
	}
	switch {
	case !a.WindowStart.IsZero() && !a.Time.IsZero():
		fmt.Fprintf(&b, " from %s to %s", formatTime(a.WindowStart), formatTime(a.Time))
	case !a.Time.IsZero():
		fmt.Fprintf(&b, " ending %s", formatTime(a.Time))
	}
	return b.String()
}

// joinList cleans and joins the first maxListItems non-empty items.
func joinList(items []string, truncated *int) string {
	var kept []string
	for _, it := range items {
		if len(kept) == maxListItems {
			*truncated++
			break
		}
		if v := clean(it, maxLabelValue, truncated); v != "" {
			kept = append(kept, v)
		}
	}
	return strings.Join(kept, ", ")
}

// clean makes s safe to show and route on: valid UTF-8, control, line
// separator and bidi control characters replaced by spaces, surrounding
// space trimmed, at most limit bytes (cut at a rune boundary and marked
// with an ellipsis, counting the cut in *truncated).
func clean(s string, limit int, truncated *int) string {
	cut := false
	if len(s) > 4*limit { // bound the work; the cut is marked below
		s = s[:4*limit]
		cut = true
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if ' ' <= r && r < 0x7f { // printable ASCII, the common case
			return r
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if cut || len(s) > limit {
		if i := limit - len(ellipsis); len(s) > i {
			for i > 0 && !utf8.RuneStart(s[i]) {
				i--
			}
			s = s[:i]
		}
		s = strings.TrimRightFunc(s, unicode.IsSpace) + ellipsis
		*truncated++
	}
	return s
}

// formatTime formats t in RFC 3339 (UTC, fractional seconds only when set).
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// formatNumber prints integers without a fraction and other values with
// at most two decimals.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
