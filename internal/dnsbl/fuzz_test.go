package dnsbl

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// FuzzParseAnswer feeds arbitrary bytes, as a resolver could send them,
// through the unpacking and interpretation of answers and the table.
func FuzzParseAnswer(f *testing.F) {
	seeds := []*dns.Msg{
		reply(qn, dns.TypeA, dns.RcodeSuccess, rrA(qn, "127.0.0.2"), rrA(qn, "127.255.255.254")),
		reply(qn, dns.TypeA, dns.RcodeNameError),
		reply(qn, dns.TypeA, dns.RcodeSuccess, rrCNAME(qn, "a.test."), rrA("a.test.", "10.0.0.1")),
		reply(qn, dns.TypeTXT, dns.RcodeSuccess, rrTXT(qn, "see ", "https://x.test/\x01")),
		reply(qn, dns.TypeA, dns.RcodeServerFailure),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0xff, 0, 0, 0, 0})
	z, err := testZone().validate("z")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		qname := qn
		if len(m.Question) == 1 {
			qname = m.Question[0].Name
		}
		v, tl := parseA(&z, qname, m)
		if len(v.codes) > maxCodes {
			t.Fatalf("%d codes kept, limit %d", len(v.codes), maxCodes)
		}
		if v.listed && v.refused {
			t.Fatal("both listed and refused")
		}
		if v.err == nil && len(v.meanings) != len(v.codes) {
			t.Fatalf("%d meanings for %d codes", len(v.meanings), len(v.codes))
		}
		if (v.listed || v.refused) && v.err != nil {
			t.Fatalf("listed or refused with error %v", v.err)
		}
		kept := uint64(len(v.codes)) + tl.skippedRecords + tl.droppedCodes
		if v.err == nil && m.Rcode == dns.RcodeSuccess && kept != uint64(countNonCNAME(m.Answer, qname)) {
			t.Fatalf("%d of %d records accounted for", kept, len(m.Answer))
		}
		txt, _, err := parseTXT(qname, m)
		if len(txt) > maxTXT {
			t.Fatalf("%d TXT kept, limit %d", len(txt), maxTXT)
		}
		for _, s := range txt {
			if len(s) > maxTXTLen || !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
				t.Fatalf("bad TXT kept: %q", s)
			}
		}
		r := Result{IP: netip.MustParseAddr("192.0.2.1"), Zone: "bl.test", List: "b", Listed: v.listed,
			Refused: v.refused, Codes: v.codes, Meanings: v.meanings, TXT: txt, Err: v.err}
		if r.Err == nil {
			r.Err = err
		}
		var buf bytes.Buffer
		if err := WriteTable(&buf, []Result{r}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.Count(out, "\n") != 2 || strings.ContainsFunc(strings.ReplaceAll(out, "\n", ""), func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("table is not two clean lines: %q", out)
		}
	})
}

// countNonCNAME counts the answer records that parseA must account for:
// all but the CNAMEs of the chain from qname.
func countNonCNAME(rrs []dns.RR, qname string) int {
	names := ownerNames(&dns.Msg{Answer: rrs}, qname)
	n := 0
	for _, rr := range rrs {
		if _, ok := rr.(*dns.CNAME); ok && names[strings.ToLower(rr.Header().Name)] {
			continue
		}
		n++
	}
	return n
}

// FuzzReverseName checks the shape of reverse names for any address.
func FuzzReverseName(f *testing.F) {
	f.Add([]byte{192, 0, 2, 1}, "zen.spamhaus.org")
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "x.test.")
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}, "")
	f.Fuzz(func(t *testing.T, b []byte, zone string) {
		ip, ok := netip.AddrFromSlice(b)
		name := ReverseName(ip, zone)
		if !ok {
			if name != "" {
				t.Fatalf("invalid address gave %q", name)
			}
			return
		}
		if !strings.HasSuffix(name, ".") {
			t.Fatalf("%q is not fully qualified", name)
		}
		want := 4
		if !ip.Unmap().Is4() {
			want = 32
		}
		labels := strings.SplitN(name, ".", want+1)
		if len(labels) != want+1 {
			t.Fatalf("%q has fewer than %d address labels", name, want)
		}
		back := strings.Join(labels[:want], ".")
		if want == 4 {
			var parts [4]string
			copy(parts[:], labels[:4])
			got, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
			if err != nil || got != ip.Unmap() {
				t.Fatalf("%q does not reverse to %v (%v)", back, ip, err)
			}
		} else {
			var hexDigits strings.Builder
			for i := want - 1; i >= 0; i-- {
				hexDigits.WriteString(labels[i])
			}
			a := ip.As16()
			if got := hexDigits.String(); got != hex.EncodeToString(a[:]) {
				t.Fatalf("%q does not reverse to %v", back, ip)
			}
		}
		if rest := strings.TrimSuffix(labels[want], "."); rest != strings.TrimSuffix(zone, ".") {
			t.Fatalf("zone part %q, want %q", rest, zone)
		}
	})
}
