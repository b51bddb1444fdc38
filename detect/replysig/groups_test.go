package replysig

import (
	"errors"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name          string
		mx, domain    string
		wantGroup     string
		wantSensitive bool
	}{
		{name: "gmail mx", mx: "gmail-smtp-in.l.google.com", wantGroup: "gmail", wantSensitive: true},
		{name: "gmail alt mx", mx: "alt1.gmail-smtp-in.l.google.com", wantGroup: "gmail", wantSensitive: true},
		{name: "workspace mx", mx: "aspmx.l.google.com", domain: "example.com", wantGroup: "gmail", wantSensitive: true},
		{name: "googlemail mx", mx: "alt2.aspmx.l.googlemail.com", wantGroup: "gmail", wantSensitive: true},
		{name: "microsoft 365", mx: "example-com.mail.protection.outlook.com", wantGroup: "microsoft", wantSensitive: true},
		{name: "outlook.com", mx: "outlook-com.olc.protection.outlook.com", wantGroup: "microsoft", wantSensitive: true},
		{name: "yahoo", mx: "mta5.am0.yahoodns.net", wantGroup: "yahoo", wantSensitive: true},
		{name: "aol via yahoo", mx: "mx-aol.mail.gm0.yahoodns.net", domain: "aol.com", wantGroup: "yahoo", wantSensitive: true},
		{name: "icloud", mx: "mx01.mail.icloud.com", wantGroup: "apple", wantSensitive: true},
		{name: "gmx", mx: "mx00.gmx.net", wantGroup: "gmx-webde", wantSensitive: true},
		{name: "web.de", mx: "mx-ha03.web.de", wantGroup: "gmx-webde", wantSensitive: true},
		{name: "mail.ru", mx: "mxs.mail.ru", wantGroup: "mailru", wantSensitive: true},
		{name: "yandex", mx: "mx.yandex.ru", wantGroup: "yandex", wantSensitive: true},
		{name: "comcast", mx: "mx1a1.comcast.net", wantGroup: "comcast", wantSensitive: true},
		{name: "att", mx: "ff-ip4-mx-vip1.prodigy.net", wantGroup: "att", wantSensitive: true},
		{name: "orange", mx: "smtp-in.orange.fr", wantGroup: "orange", wantSensitive: true},
		{name: "t-online", mx: "mx00.t-online.de", wantGroup: "t-online", wantSensitive: true},
		{name: "zoho", mx: "mx.zoho.eu", wantGroup: "zoho", wantSensitive: true},
		{name: "proton", mx: "mailsec.protonmail.ch", wantGroup: "proton", wantSensitive: true},
		{name: "mimecast", mx: "eu-smtp-inbound-1.mimecast.com", domain: "example.co.uk", wantGroup: "mimecast", wantSensitive: true},
		{name: "proofpoint", mx: "mx0a-00123456.pphosted.com", wantGroup: "proofpoint", wantSensitive: true},
		{name: "barracuda", mx: "d123456a.ess.barracudanetworks.com", wantGroup: "barracuda", wantSensitive: true},
		{name: "other mx", mx: "mx.example.org", wantGroup: Other},
		{name: "mx case and trailing dot", mx: "GMAIL-SMTP-IN.L.Google.COM.", wantGroup: "gmail", wantSensitive: true},
		{name: "suffix pattern excludes apex", mx: "google.com", wantGroup: Other},
		{name: "lookalike is not a subdomain", mx: "mx.notgoogle.com", wantGroup: Other},
		{name: "mx wins over domain", mx: "mx00.gmx.net", domain: "gmail.com", wantGroup: "gmx-webde", wantSensitive: true},
		{name: "unknown mx falls back to domain", mx: "mx.example.org", domain: "hotmail.com", wantGroup: "microsoft", wantSensitive: true},
		{name: "domain only", domain: "gmail.com", wantGroup: "gmail", wantSensitive: true},
		{name: "domain upper case dot", domain: "GMAIL.COM.", wantGroup: "gmail", wantSensitive: true},
		{name: "address instead of domain", domain: "Bob@Yahoo.co.uk", wantGroup: "yahoo", wantSensitive: true},
		{name: "tld wildcard", domain: "yahoo.fr", wantGroup: "yahoo", wantSensitive: true},
		{name: "tld wildcard second level", domain: "yahoo.com.br", wantGroup: "yahoo", wantSensitive: true},
		{name: "tld wildcard not a subdomain", domain: "yahoo.example.com", wantGroup: Other},
		{name: "tld wildcard needs a dot", domain: "yahoofr", wantGroup: Other},
		{name: "live tld wildcard", domain: "live.nl", wantGroup: "microsoft", wantSensitive: true},
		{name: "domain of subdomain is not listed", domain: "mail.gmail.com", wantGroup: Other},
		{name: "other domain", domain: "example.org", wantGroup: Other},
		{name: "nothing", wantGroup: Other},
		{name: "over-long name", mx: strings.Repeat("a.", 200) + "google.com", wantGroup: Other},
	}
	g := DefaultGroups()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, sensitive := g.Classify(tc.mx, tc.domain)
			if name != tc.wantGroup || sensitive != tc.wantSensitive {
				t.Errorf("Classify(%q, %q) = %q, %v; want %q, %v", tc.mx, tc.domain, name, sensitive, tc.wantGroup, tc.wantSensitive)
			}
		})
	}
}

func TestDefaultGroups(t *testing.T) {
	want := []string{"gmail", "microsoft", "yahoo", "apple", "gmx-webde", "mailru", "yandex", "comcast", "att",
		"orange", "t-online", "zoho", "proton", "mimecast", "proofpoint", "barracuda"}
	have := map[string]bool{}
	for _, g := range DefaultGroups().List() {
		have[g.Name] = true
	}
	for _, n := range want {
		if !have[n] {
			t.Errorf("no default group %q", n)
		}
	}
}

func TestParseGroupsErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr error
		wantMsg string
	}{
		{name: "not yaml", yaml: "groups: {", wantErr: ErrSyntax},
		{name: "unknown field", yaml: "groups:\n  - name: a\n    mxs: [a.example]\n", wantErr: ErrSyntax, wantMsg: "mxs"},
		{name: "missing name", yaml: "groups:\n  - mx: [a.example]\n", wantErr: ErrMissing, wantMsg: "group 1"},
		{name: "no patterns", yaml: "groups:\n  - name: a\n", wantErr: ErrMissing, wantMsg: `(name "a"): mx, domains`},
		{name: "duplicate", yaml: "groups:\n  - name: a\n    mx: [a.example]\n  - name: a\n    mx: [b.example]\n", wantErr: ErrDuplicate, wantMsg: `group 2 (name "a")`},
		{name: "reserved other", yaml: "groups:\n  - name: other\n    mx: [a.example]\n", wantErr: ErrInvalid},
		{name: "bad name", yaml: "groups:\n  - name: My Group\n    mx: [a.example]\n", wantErr: ErrInvalid},
		{name: "wildcard in middle", yaml: "groups:\n  - name: a\n    mx: [\"mx.*.example\"]\n", wantErr: ErrInvalid, wantMsg: "mx[0]"},
		{name: "both wildcards", yaml: "groups:\n  - name: a\n    domains: [\"*.yahoo.*\"]\n", wantErr: ErrInvalid, wantMsg: "domains[0]"},
		{name: "empty pattern", yaml: "groups:\n  - name: a\n    domains: [\"\"]\n", wantErr: ErrInvalid},
		{name: "empty label", yaml: "groups:\n  - name: a\n    mx: [\"a..example\"]\n", wantErr: ErrInvalid},
		{name: "too large", yaml: "groups: []\n#" + strings.Repeat("x", MaxTableBytes), wantErr: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGroups([]byte(tc.yaml))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseGroups error = %v, want %v", err, tc.wantErr)
			}
			if g != nil {
				t.Error("ParseGroups returned groups with an error")
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestGroupsMerge(t *testing.T) {
	extra, err := ParseGroups([]byte(`
groups:
  - name: gmail
    sensitive: false
    mx: ["*.google.com"]
  - name: corp-filter
    sensitive: true
    mx: ["*.filter.example.net", "*.l.google.com"]
    domains: [corp.example]
`))
	if err != nil {
		t.Fatal(err)
	}
	base := DefaultGroups()
	m := base.Merge(extra)
	if got, want := len(m.List()), len(base.List())+1; got != want {
		t.Errorf("merged groups = %d, want %d", got, want)
	}
	if l := m.List(); l[0].Name != "gmail" || l[1].Name != "corp-filter" {
		t.Errorf("extra groups not first: %q, %q", l[0].Name, l[1].Name)
	}
	tests := []struct {
		name, mx, domain string
		wantGroup        string
		wantSensitive    bool
	}{
		{name: "replaced group wins by order", mx: "gmail-smtp-in.l.google.com", wantGroup: "gmail", wantSensitive: false},
		{name: "replaced group lost its domains", domain: "gmail.com", wantGroup: Other},
		{name: "new group", mx: "in1.filter.example.net", wantGroup: "corp-filter", wantSensitive: true},
		{name: "new domain", domain: "corp.example", wantGroup: "corp-filter", wantSensitive: true},
		{name: "base group kept", mx: "mx00.gmx.net", wantGroup: "gmx-webde", wantSensitive: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, sensitive := m.Classify(tc.mx, tc.domain)
			if name != tc.wantGroup || sensitive != tc.wantSensitive {
				t.Errorf("Classify(%q, %q) = %q, %v; want %q, %v", tc.mx, tc.domain, name, sensitive, tc.wantGroup, tc.wantSensitive)
			}
		})
	}
	if name, _ := base.Classify("gmail-smtp-in.l.google.com", ""); name != "gmail" {
		t.Errorf("Merge changed the base groups: %q", name)
	}
	var nilGroups *Groups
	if name, s := nilGroups.Classify("gmail-smtp-in.l.google.com", "gmail.com"); name != Other || s {
		t.Errorf("nil Groups classify = %q, %v", name, s)
	}
	if nilGroups.List() != nil || len(nilGroups.Merge(extra).List()) != 2 {
		t.Error("nil Groups List/Merge")
	}
}

func TestGroupsListIsCopy(t *testing.T) {
	g := DefaultGroups()
	l := g.List()
	l[0].MX[0] = "*.example.org"
	if name, _ := g.Classify("mx.example.org", ""); name != Other {
		t.Errorf("changing List() changed the groups: %q", name)
	}
	if g.List()[0].MX[0] == "*.example.org" {
		t.Error("List shares memory with the groups")
	}
}

func TestGroupPatternsCanonical(t *testing.T) {
	g, err := ParseGroups([]byte("groups:\n  - name: a\n    mx: [\" *.MX.Example.NET. \"]\n    domains: [Example.ORG.]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := g.List(); l[0].MX[0] != "*.mx.example.net" || l[0].Domains[0] != "example.org" {
		t.Errorf("patterns not canonical: %q %q", l[0].MX, l[0].Domains)
	}
	if name, _ := g.Classify("in.mx.example.net", ""); name != "a" {
		t.Errorf("Classify = %q, want a", name)
	}
}
