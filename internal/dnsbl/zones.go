package dnsbl

// Zone describes one DNS blocklist.
type Zone struct {
	// Name is the DNS zone asked, e.g. "zen.spamhaus.org".
	Name string
	// List is a short name for reports, e.g. "spamhaus-zen". Empty means
	// Name.
	List string
	// Codes maps a return address ("127.0.0.2") to its meaning ("SBL:
	// Spamhaus Block List"). A listing with an address that is not in the
	// table is still a listing, reported as "unknown code ...".
	Codes map[string]string
	// Refused lists return addresses that mean the query was refused (for
	// Spamhaus 127.255.255.252 typo in the zone name, .254 query through a
	// public or open resolver, .255 excessive number of queries): not a
	// listing, but reported.
	Refused map[string]string
	// IPv6 is true when the zone answers for IPv6 addresses; IPv6
	// addresses are not asked of other zones.
	IPv6 bool
}

// DefaultZones returns the well-known blocklists with their documented
// return codes: Spamhaus ZEN, Barracuda, SpamCop, PSBL, UCEPROTECT level 1,
// Mailspike, SORBS and SpamRATS. Each call returns new maps, which the
// caller may change.
//
// SORBS was closed by its owner in 2024; its zone is kept for hosts whose
// receivers still consult it, and a query of it may fail or answer
// NXDOMAIN for every address.
func DefaultZones() []Zone {
	return []Zone{
		{
			Name: "zen.spamhaus.org",
			List: "spamhaus-zen",
			Codes: map[string]string{
				"127.0.0.2":  "SBL: Spamhaus Block List",
				"127.0.0.3":  "SBL CSS: Spamhaus snowshoe spam sources",
				"127.0.0.4":  "XBL: exploited host (CBL)",
				"127.0.0.5":  "XBL: exploited host (legacy code)",
				"127.0.0.6":  "XBL: exploited host (legacy code)",
				"127.0.0.7":  "XBL: exploited host (legacy code)",
				"127.0.0.9":  "SBL DROP: hijacked or leased to spammers (DROP/EDROP)",
				"127.0.0.10": "PBL: end-user range, listed by the ISP",
				"127.0.0.11": "PBL: end-user range, listed by Spamhaus",
			},
			Refused: map[string]string{
				"127.255.255.252": "refused: typing error in the DNSBL name",
				"127.255.255.254": "refused: query through a public/open resolver or unattributable rDNS",
				"127.255.255.255": "refused: excessive number of queries",
			},
			IPv6: true,
		},
		{
			Name: "b.barracudacentral.org",
			List: "barracuda",
			Codes: map[string]string{
				"127.0.0.2": "Barracuda Reputation Block List",
			},
		},
		{
			Name: "bl.spamcop.net",
			List: "spamcop",
			Codes: map[string]string{
				"127.0.0.2": "SpamCop: reported as a spam source",
			},
		},
		{
			Name: "psbl.surriel.com",
			List: "psbl",
			Codes: map[string]string{
				"127.0.0.2": "PSBL: sent mail to spam traps",
			},
		},
		{
			Name: "dnsbl-1.uceprotect.net",
			List: "uceprotect-l1",
			Codes: map[string]string{
				"127.0.0.2": "UCEPROTECT level 1: this address sent to spam traps",
			},
		},
		{
			Name: "bl.mailspike.net",
			List: "mailspike",
			Codes: map[string]string{
				"127.0.0.2":  "Mailspike blacklist",
				"127.0.0.10": "Mailspike L5: worst reputation",
				"127.0.0.11": "Mailspike L4: very bad reputation",
				"127.0.0.12": "Mailspike L3: bad reputation",
				"127.0.0.13": "Mailspike L2: suspicious reputation",
				"127.0.0.14": "Mailspike L1: neutral, possible spam",
			},
		},
		{
			Name: "dnsbl.sorbs.net",
			List: "sorbs",
			Codes: map[string]string{
				"127.0.0.2":  "SORBS http: open HTTP proxy",
				"127.0.0.3":  "SORBS socks: open SOCKS proxy",
				"127.0.0.4":  "SORBS misc: other open proxy",
				"127.0.0.5":  "SORBS smtp: open SMTP relay",
				"127.0.0.6":  "SORBS spam: spam source",
				"127.0.0.7":  "SORBS web: vulnerable web server",
				"127.0.0.8":  "SORBS block: blocked on request of the owner",
				"127.0.0.9":  "SORBS zombie: hijacked network",
				"127.0.0.10": "SORBS dul: dynamic IP range",
				"127.0.0.11": "SORBS badconf: bad A/MX configuration",
				"127.0.0.12": "SORBS nomail: domain or range sends no mail",
				"127.0.0.14": "SORBS noserver: range should not host servers",
			},
		},
		{
			Name: "all.spamrats.com",
			List: "spamrats",
			Codes: map[string]string{
				"127.0.0.36": "RATS-Dyna: dynamic or generic rDNS",
				"127.0.0.37": "RATS-NoPtr: no reverse DNS",
				"127.0.0.38": "RATS-Spam: spam source",
				"127.0.0.43": "RATS-Auth: authentication attacks",
			},
		},
	}
}
