package irc

import (
	"strings"
	"unicode/utf8"
)

// Text converts text received from IRC into text that XML 1.0 can carry and a
// person can read: mIRC formatting codes (bold ^B, color ^C with its digits,
// hex color ^D, reset ^O, monospace ^Q, reverse ^V, italics ^], strike ^^,
// underline ^_) are stripped, other control characters except tab are
// removed, and bytes that are not valid UTF-8 are read as Latin-1, the most
// common legacy IRC encoding. Characters XML forbids (U+FFFE, U+FFFF) are
// dropped too.
func Text(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x03: // color: ^C[fg[,bg]] with one or two digits each
			i++
			n := digits(s[i:], 2)
			i += n
			if n > 0 && i+1 < len(s) && s[i] == ',' && isDigit(s[i+1]) {
				i++
				i += digits(s[i:], 2)
			}
			continue
		case c == 0x04: // hex color: ^D[RRGGBB[,RRGGBB]]
			i++
			if hexRun(s[i:]) {
				i += 6
				if i+6 < len(s) && s[i] == ',' && hexRun(s[i+1:]) {
					i += 7
				}
			}
			continue
		case c == '\t':
			b.WriteByte(c)
			i++
			continue
		case c < 0x20 || c == 0x7f:
			i++ // formatting codes and other controls
			continue
		case c < 0x80:
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			r, n = rune(c), 1 // Latin-1
		}
		i += n
		if r >= 0x80 && r < 0xa0 || r == 0xfffe || r == 0xffff {
			continue // C1 controls and non-characters
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string, max int) int {
	n := 0
	for n < max && n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

func hexRun(s string) bool {
	if len(s) < 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		c := s[i] | 0x20
		if !isDigit(s[i]) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Split cuts text to be sent to IRC into lines of at most max bytes each:
// every line of the text (LF or CRLF separated) becomes at least one line
// (empty ones are skipped, IRC cannot carry them), and a line longer than max
// is cut on UTF-8 code point boundaries, after the last space that leaves a
// piece at least half of max long when there is one. Joining the pieces of
// one line gives it back unchanged. NUL and CR characters are dropped since
// no IRC line may carry them. max is at least 4 (one code point).
func Split(text string, max int) []string {
	if max < utf8.UTFMax {
		max = utf8.UTFMax
	}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.ContainsAny(line, "\r\x00") {
			line = strings.Map(func(r rune) rune {
				if r == 0 || r == '\r' {
					return -1
				}
				return r
			}, line)
		}
		if !utf8.ValidString(line) {
			line = strings.ToValidUTF8(line, "\uFFFD")
		}
		for len(line) > max {
			cut := max
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			if sp := strings.LastIndexByte(line[:cut], ' '); sp >= max/2 {
				cut = sp + 1
			}
			out = append(out, line[:cut])
			line = line[cut:]
		}
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// CTCP ACTION (the /me command), as relayed by IRC clients.
const (
	actionPrefix = "\x01ACTION "
	ctcpDelim    = "\x01"
)

// Action returns the text of a CTCP ACTION ("\x01ACTION waves\x01" gives
// "waves") and true, or "" and false when s is not one. The closing \x01 is
// optional, as many clients leave it out.
func Action(s string) (string, bool) {
	if !strings.HasPrefix(s, actionPrefix) {
		if s == "\x01ACTION\x01" {
			return "", true
		}
		return "", false
	}
	return strings.TrimSuffix(s[len(actionPrefix):], ctcpDelim), true
}

// MakeAction wraps text as a CTCP ACTION.
func MakeAction(text string) string { return actionPrefix + text + ctcpDelim }

// IsCTCP reports whether s is a CTCP request or reply (it starts with \x01).
func IsCTCP(s string) bool { return strings.HasPrefix(s, ctcpDelim) }
