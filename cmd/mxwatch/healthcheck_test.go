package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheckCommand(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready {
			http.Error(w, "not ready: retrying a batch", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name  string
		ready bool
		url   string
		code  int
		want  string
	}{
		{name: "ready", ready: true, url: srv.URL + "/readyz", code: exitOK, want: "ready"},
		{name: "not ready", ready: false, url: srv.URL + "/readyz", code: exitFailure, want: "retrying a batch"},
		{name: "nothing listening", ready: true, url: "http://127.0.0.1:1/readyz", code: exitFailure, want: "not healthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready = tc.ready
			code, out, errs := mxwatch(t, "healthcheck", "--url", tc.url)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d, output %q %q; want %d and %q", code, out, errs, tc.code, tc.want)
			}
		})
	}
}
