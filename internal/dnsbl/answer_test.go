package dnsbl

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const qn = "2.0.0.127.bl.test."

func rrA(name, a string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP(a)}
}

func rrTXT(name string, s ...string) dns.RR {
	return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: s}
}

func rrCNAME(name, target string) dns.RR {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: target}
}

// reply returns an answer to (qname, qtype) with rcode and records.
func reply(qname string, qtype uint16, rcode int, rrs ...dns.RR) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	m := new(dns.Msg)
	m.SetRcode(q, rcode)
	m.Answer = rrs
	return m
}

func TestParseA(t *testing.T) {
	z, err := testZone().validate("z")
	if err != nil {
		t.Fatal(err)
	}
	many := make([]dns.RR, maxCodes+3)
	for i := range many {
		many[i] = rrA(qn, "127.0.0.2")
	}
	tests := []struct {
		name     string
		msg      *dns.Msg
		listed   bool
		refused  bool
		ncodes   int
		errIs    error
		want     tally
		meanings []string
	}{
		{name: "nxdomain", msg: reply(qn, dns.TypeA, dns.RcodeNameError)},
		{name: "nxdomain with records", msg: reply(qn, dns.TypeA, dns.RcodeNameError, rrA(qn, "127.0.0.2")),
			want: tally{skippedRecords: 1}},
		{name: "nodata", msg: reply(qn, dns.TypeA, dns.RcodeSuccess)},
		{name: "listed", msg: reply(qn, dns.TypeA, dns.RcodeSuccess, rrA(qn, "127.0.0.2")),
			listed: true, ncodes: 1, meanings: []string{"test listing"}},
		{name: "owner name case differs", msg: reply(qn, dns.TypeA, dns.RcodeSuccess, rrA(strings.ToUpper(qn), "127.0.0.2")),
			listed: true, ncodes: 1, meanings: []string{"test listing"}},
		{name: "record for another name skipped", msg: reply(qn, dns.TypeA, dns.RcodeSuccess, rrA("other.test.", "127.0.0.2")),
			want: tally{skippedRecords: 1}},
		{name: "other types skipped", msg: reply(qn, dns.TypeA, dns.RcodeSuccess, rrTXT(qn, "x"), rrA(qn, "127.0.0.9")),
			listed: true, ncodes: 1, want: tally{skippedRecords: 1}, meanings: []string{"unknown code 127.0.0.9"}},
		{name: "cname chain", msg: reply(qn, dns.TypeA, dns.RcodeSuccess,
			rrCNAME(qn, "a.test."), rrCNAME("a.test.", "b.test."), rrA("b.test.", "127.0.0.4")),
			listed: true, ncodes: 1, meanings: []string{"test exploit"}},
		{name: "unrelated cname skipped", msg: reply(qn, dns.TypeA, dns.RcodeSuccess, rrCNAME("x.test.", "y.test.")),
			want: tally{skippedRecords: 1}},
		{name: "refusal wins over listing", msg: reply(qn, dns.TypeA, dns.RcodeSuccess,
			rrA(qn, "127.0.0.2"), rrA(qn, "127.255.255.254")),
			refused: true, ncodes: 2, meanings: []string{"test listing", "refused: open resolver"}},
		{name: "too many codes", msg: reply(qn, dns.TypeA, dns.RcodeSuccess, many...),
			listed: true, ncodes: maxCodes, want: tally{droppedCodes: 3}},
		{name: "outside 127/8", msg: reply(qn, dns.TypeA, dns.RcodeSuccess, rrA(qn, "127.0.0.2"), rrA(qn, "10.1.2.3")),
			ncodes: 2, errIs: ErrUnexpectedAnswer},
		{name: "servfail", msg: reply(qn, dns.TypeA, dns.RcodeServerFailure), errIs: ErrRcode},
		{name: "unknown rcode", msg: reply(qn, dns.TypeA, 15), errIs: ErrRcode},
		{name: "wrong question name", msg: reply("x.test.", dns.TypeA, dns.RcodeSuccess), errIs: ErrMismatch},
		{name: "wrong question type", msg: reply(qn, dns.TypeAAAA, dns.RcodeSuccess), errIs: ErrMismatch},
		{name: "no question", msg: &dns.Msg{}, errIs: ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, got := parseA(&z, qn, tt.msg)
			if !errors.Is(v.err, tt.errIs) || (tt.errIs == nil) != (v.err == nil) {
				t.Errorf("err %v, want %v", v.err, tt.errIs)
			}
			if v.listed != tt.listed || v.refused != tt.refused || len(v.codes) != tt.ncodes {
				t.Errorf("listed %v refused %v codes %v, want %v %v %d codes", v.listed, v.refused, v.codes, tt.listed, tt.refused, tt.ncodes)
			}
			if tt.meanings != nil && !slices.Equal(v.meanings, tt.meanings) {
				t.Errorf("meanings %q, want %q", v.meanings, tt.meanings)
			}
			if got != tt.want {
				t.Errorf("tally %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseTXT(t *testing.T) {
	long := strings.Repeat("x", maxTXTLen+10)
	many := make([]dns.RR, maxTXT+2)
	for i := range many {
		many[i] = rrTXT(qn, "r")
	}
	tests := []struct {
		name  string
		msg   *dns.Msg
		want  []string
		tally tally
		errIs error
	}{
		{name: "segments joined", msg: reply(qn, dns.TypeTXT, dns.RcodeSuccess, rrTXT(qn, "see ", "https://x.test/")),
			want: []string{"see https://x.test/"}},
		{name: "control characters replaced", msg: reply(qn, dns.TypeTXT, dns.RcodeSuccess, rrTXT(qn, "a\x00b\nc\xffd")),
			want: []string{"a?b?c?d"}},
		{name: "long string cut", msg: reply(qn, dns.TypeTXT, dns.RcodeSuccess, rrTXT(qn, long)),
			want: []string{long[:maxTXTLen]}, tally: tally{truncatedTXT: 1}},
		{name: "too many records", msg: reply(qn, dns.TypeTXT, dns.RcodeSuccess, many...),
			want: slices.Repeat([]string{"r"}, maxTXT), tally: tally{droppedTXT: 2}},
		{name: "other names skipped", msg: reply(qn, dns.TypeTXT, dns.RcodeSuccess, rrTXT("y.test.", "r")),
			tally: tally{skippedRecords: 1}},
		{name: "servfail", msg: reply(qn, dns.TypeTXT, dns.RcodeServerFailure), errIs: ErrRcode},
		{name: "mismatch", msg: reply(qn, dns.TypeA, dns.RcodeSuccess), errIs: ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tl, err := parseTXT(qn, tt.msg)
			if !errors.Is(err, tt.errIs) || (tt.errIs == nil) != (err == nil) {
				t.Errorf("err %v, want %v", err, tt.errIs)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("txt %q, want %q", got, tt.want)
			}
			if tl != tt.tally {
				t.Errorf("tally %+v, want %+v", tl, tt.tally)
			}
		})
	}
}
