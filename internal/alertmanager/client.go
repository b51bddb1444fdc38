package alertmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// Retry backoff: the first retry waits backoffBase, each next one twice as
// long, at most backoffMax.
const (
	backoffBase = 200 * time.Millisecond
	backoffMax  = 5 * time.Second
)

// Bounds on reading Alertmanager's answers.
const (
	maxSnippet = 512      // bytes of an error body kept in StatusError
	maxDrain   = 64 << 10 // bytes of a body read to reuse the connection
)

// StatusError is the error (wrapped by Client.Post) for an answer whose
// status is not 2xx. Callers can branch on it with errors.As.
type StatusError struct {
	// StatusCode and Status are the answer's ("400 Bad Request").
	StatusCode int
	Status     string
	// Body is the start of the answer's body, cleaned like a label value
	// and at most 512 bytes.
	Body string
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.Body == "" {
		return "HTTP " + e.Status
	}
	return "HTTP " + e.Status + ": " + e.Body
}

// Temporary reports whether a retry may succeed: 5xx and 429 answers.
func (e *StatusError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// Client posts alerts to one Alertmanager. It is safe for concurrent use;
// its fields do not change after NewClient.
type Client struct {
	cfg Config
	// endpoint is the API URL (with user info, if configured); redacted is
	// the same without the password, for errors.
	endpoint string
	redacted string
	hc       *http.Client
	// now is the wall clock, read once per request for endsAt (see the
	// package doc); backoffBase and backoffMax pace retries. Tests in
	// this package replace them.
	now         func() time.Time
	backoffBase time.Duration
	backoffMax  time.Duration
}

// NewClient checks cfg (see Config.Validate) and returns a Client with its
// own HTTP transport. Proxies are taken from the environment
// (HTTP_PROXY, NO_PROXY); loopback addresses are never proxied.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	u, err := endpoint(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Labels != nil { // the caller keeps its map
		labels := make(map[string]string, len(cfg.Labels))
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   cfg.Timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout,
	}
	return &Client{
		cfg:         cfg,
		endpoint:    u.String(),
		redacted:    u.Redacted(),
		hc:          &http.Client{Transport: transport},
		now:         time.Now,
		backoffBase: backoffBase,
		backoffMax:  backoffMax,
	}, nil
}

// Config returns the client's configuration, with defaults applied.
func (c *Client) Config() Config { return c.cfg }

// CloseIdleConnections closes the client's idle keep-alive connections
// (for a clean shutdown; the client stays usable).
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Post sends alerts in one POST to /api/v2/alerts, with endsAt computed
// from the wall clock at each attempt. Nil alerts are skipped; when none
// is left Post does nothing. Network errors, timeouts (Config.Timeout per
// attempt), 5xx and 429 answers are retried up to Config.Retries times
// with exponential backoff; other answers fail at once. The error names
// the URL, the attempt, and for an answer wraps a *StatusError with the
// status and the start of the body. Post returns early, with ctx's error
// wrapped, when ctx ends.
func (c *Client) Post(ctx context.Context, alerts []*event.Alert) error {
	_, err := c.post(ctx, alerts)
	return err
}

// postResult is what one Post did, for the Sender's counters.
type postResult struct {
	alerts    int // alerts in the body
	attempts  int // requests made
	truncated int // values cut (see clean)
}

func (c *Client) post(ctx context.Context, alerts []*event.Alert) (postResult, error) {
	var res postResult
	retries := max(c.cfg.Retries, 0)
	for attempt := 0; ; attempt++ {
		body, st, err := encode(alerts, c.cfg, c.now())
		if err != nil {
			return res, err
		}
		res.alerts, res.truncated = st.alerts, st.truncated
		if st.alerts == 0 {
			return res, nil
		}
		res.attempts++
		err = c.do(ctx, body)
		if err == nil {
			return res, nil
		}
		err = fmt.Errorf("alertmanager: POST %s (%d alerts, attempt %d of %d): %w",
			c.redacted, st.alerts, attempt+1, retries+1, err)
		var se *StatusError
		if attempt >= retries || ctx.Err() != nil || (errors.As(err, &se) && !se.Temporary()) {
			return res, err
		}
		if werr := sleep(ctx, backoff(c.backoffBase, c.backoffMax, attempt)); werr != nil {
			return res, fmt.Errorf("%w; not retried: %w", err, werr)
		}
	}
}

// do makes one request, bounded by Config.Timeout.
func (c *Client) do(ctx context.Context, body []byte) error {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mxwatch")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // it repeats the URL that the caller's message names
		}
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %v: %w", c.cfg.Timeout, err)
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxSnippet+1)) // +1: clean marks the cut
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var cut int // cuts of a reply are not alert data, so not counted
	return &StatusError{
		StatusCode: resp.StatusCode,
		Status:     clean(resp.Status, 64, &cut),
		Body:       clean(string(snippet), maxSnippet, &cut),
	}
}

// backoff is the wait before retry number retry (0 for the first).
func backoff(base, limit time.Duration, retry int) time.Duration {
	d := base
	for i := 0; i < retry && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
