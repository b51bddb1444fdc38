package smtp

// maxVerb is the longest verb recognised.
const maxVerb = 8

// lookupVerb returns the upper-case name of a command verb and its kind;
// verbs this parser does not know (and binary garbage) are "OTHER".
func lookupVerb(tok []byte) (string, cmdKind) {
	if len(tok) == 0 || len(tok) > maxVerb {
		return "OTHER", kindOther
	}
	var buf [maxVerb]byte
	switch string(upperASCII(buf[:], tok)) {
	case "HELO":
		return "HELO", kindHelo
	case "EHLO":
		return "EHLO", kindEhlo
	case "MAIL":
		return "MAIL", kindMail
	case "RCPT":
		return "RCPT", kindRcpt
	case "DATA":
		return "DATA", kindData
	case "BDAT":
		return "BDAT", kindBDAT
	case "AUTH":
		return "AUTH", kindAuth
	case "STARTTLS":
		return "STARTTLS", kindStartTLS
	case "RSET":
		return "RSET", kindRset
	case "QUIT":
		return "QUIT", kindQuit
	case "NOOP":
		return "NOOP", kindOther
	case "VRFY":
		return "VRFY", kindOther
	case "EXPN":
		return "EXPN", kindOther
	case "HELP":
		return "HELP", kindOther
	case "ETRN":
		return "ETRN", kindOther
	case "ATRN":
		return "ATRN", kindOther
	case "TURN":
		return "TURN", kindOther
	case "SEND":
		return "SEND", kindOther
	case "SOML":
		return "SOML", kindOther
	case "SAML":
		return "SAML", kindOther
	case "XCLIENT":
		return "XCLIENT", kindOther
	case "XFORWARD":
		return "XFORWARD", kindOther
	}
	return "OTHER", kindOther
}
