// Package replysig owns the meaning of SMTP rejection texts and of
// destinations: a signature table that recognises replies of DNS
// blocklists ("blocked using zen.spamhaus.org") and of mailbox providers
// (Gmail 421-4.7.28, Outlook S3140, Yahoo [TSS04] ...), and a table of
// destination groups that maps MX host names and recipient domains to
// providers and filtering services.
//
// Both tables are data, not code: signatures.yaml and groups.yaml are
// embedded (Default, DefaultGroups) and can be extended or overridden with
// files of the same format (Parse, ParseGroups, Merge).
//
// # Signatures
//
//	signatures:
//	  - id: spamhaus-zen          # stable, kebab-case, unique
//	    list: spamhaus-zen        # blocklist or provider name
//	    type: blocklist           # blocklist | provider
//	    kind: listed              # listed, reputation, rate-limit, policy, ...
//	    pattern: '\bzen\.spamhaus\.org\b'   # Go RE2, case-insensitive
//	    codes: [5]                # optional: classes (4, 5) or codes (421)
//	    url: https://...          # operator's documentation
//	    advice: one sentence for an abuse desk
//	    examples: ["554 5.7.1 ... blocked using zen.spamhaus.org"]
//
// Patterns are matched against the text made by Normalize: lines joined
// with a space, leading reply codes and enhanced status codes removed,
// whitespace collapsed. The first matching signature wins, so the table
// lists specific signatures before general ones. Parse checks that every
// example matches its own signature.
//
// A pattern may capture the list's name from the text in groups named
// "list" (and "list2", "list3", ..., since RE2 names are unique): the
// first such group that matched, lower-cased and at most MaxListLen
// bytes, replaces the signature's list. The generic fallback uses it to
// name zones it does not know ("blocked using dnsbl.example.net").
//
// Only 4xx and 5xx replies are matched; code 0 stands for an unknown code
// (pasted texts) and is matched too, unless its enhanced code says
// success. Texts longer than MaxTextLen are cut before matching; cuts and
// skipped replies are counted in Stats.
//
// # Destination groups
//
//	groups:
//	  - name: gmail
//	    sensitive: true
//	    mx: ["*.google.com"]      # MX host patterns
//	    domains: [gmail.com]      # recipient domain patterns
//
// A pattern is an exact name, "*.name" (any subdomain of name, not name
// itself) or "name.*" (name under a top-level domain, such as yahoo.fr, or
// under a country's second-level domain, such as yahoo.co.uk). Names are
// compared case-insensitively and without a trailing dot.
//
// Tables are immutable once built and safe for concurrent use; there is no
// package-level mutable state.
package replysig
