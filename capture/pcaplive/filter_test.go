package pcaplive

import (
	"strings"
	"testing"
)

func TestFilterExpression(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mail, dns  []uint16
		tunnels    bool
		want, nots []string
		err        bool
	}{
		{name: "mail and dns", mail: []uint16{25, 587}, dns: []uint16{53},
			want: []string{"tcp port 25", "tcp port 587", "port 53", "(vlan and (", "ip[6:2] & 0x3fff != 0"}, nots: []string{"proto 47", "4789"}},
		{name: "tunnels", mail: []uint16{25}, dns: []uint16{53}, tunnels: true,
			want: []string{"ip proto 47", "udp port 4789", "udp port 6081"}},
		{name: "no ports", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Filter(tc.mail, tc.dns, tc.tunnels)
			if tc.err {
				if err == nil {
					t.Fatalf("Filter = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, n := range tc.nots {
				if strings.Contains(got, n) {
					t.Errorf("%q has %q", got, n)
				}
			}
		})
	}
}

// TestOpenWithoutLibpcap: the default build says how to get libpcap.
func TestOpenWithoutLibpcap(t *testing.T) {
	if Available {
		t.Skip("built with libpcap")
	}
	if _, err := Open(Config{Interface: "lo"}); err != ErrUnsupported || !strings.Contains(err.Error(), "-tags libpcap") {
		t.Errorf("Open: %v, want ErrUnsupported naming the build tag", err)
	}
}
