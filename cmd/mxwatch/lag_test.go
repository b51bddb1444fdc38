package main

import (
	"testing"
	"time"
)

func TestLiveLag(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		lag     time.Duration // of the last event taken
		takenAt time.Duration // before now; 0: never
		queued  int
		want    time.Duration
	}{
		{"nothing taken yet", 0, 0, 5, 0},
		{"keeping up", 2 * time.Second, time.Second, 3, 2 * time.Second},
		{"quiet link, recent", 2 * time.Second, 5 * time.Second, 0, 2 * time.Second},
		{"quiet link, long idle", 90 * time.Second, time.Minute, 0, 0},
		{"stuck detector", 2 * time.Second, 45 * time.Second, 100, 45 * time.Second},
		{"behind, still taking", 90 * time.Second, time.Second, 100, 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st liveStats
			st.lag.Store(int64(tc.lag))
			if tc.takenAt > 0 {
				st.handledAt.Store(now.Add(-tc.takenAt).UnixNano())
			}
			if got := liveLag(&st, tc.queued, now); got != tc.want {
				t.Errorf("lag %v, want %v", got, tc.want)
			}
		})
	}
}
