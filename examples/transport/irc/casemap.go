package irc

// Casemappings of the ISUPPORT CASEMAPPING token (the IRCv3 and
// draft-brocklesby-irc-isupport definitions): how a server compares nicks
// and channel names.
const (
	CaseASCII         = "ascii"          // A-Z are the upper case of a-z
	CaseRFC1459       = "rfc1459"        // also []\~ are the upper case of {}|^ (RFC 1459 §2.2)
	CaseRFC1459Strict = "rfc1459-strict" // []\ of {}|, without ~ and ^
)

// Fold returns s in the lower case of the casemapping (CaseRFC1459 for an
// unknown one, as RFC 1459 servers compare), so that two names are the same
// to the server exactly when their folds are equal.
func Fold(casemapping, s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		l := c
		switch {
		case c >= 'A' && c <= 'Z':
			l = c + ('a' - 'A')
		case casemapping == CaseASCII:
		case c == '[' || c == ']' || c == '\\':
			l = c + ('{' - '[')
		case c == '~' && casemapping != CaseRFC1459Strict:
			l = '^'
		}
		if l != c && b == nil {
			b = []byte(s)
		}
		if b != nil {
			b[i] = l
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}
