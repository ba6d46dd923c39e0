package xmlscan

import (
	"unicode/utf8"
)

// maxRef bounds the length of a reference ("&...;") the scanner will wait
// for; longer ones (only possible with absurd leading zeros in character
// references, or huge entity names) are rejected as not-well-formed.
const maxRef = 64

// parseRef parses the reference starting at b[0] == '&' (XML 1.0 §4.1). It
// returns the referenced character and the reference's length; n == 0 with
// an empty cond means b ends inside what may still become a valid reference.
func parseRef(b []byte) (r rune, n int, cond, reason string) {
	semi := -1
	for i := 1; i < len(b) && i < maxRef; i++ {
		c := b[i]
		if c == ';' {
			semi = i
			break
		}
		if c == '#' || c == ':' || nameTab[c] != 0 || c >= 0x80 {
			continue
		}
		return 0, 0, CondNotWellFormed, "malformed reference"
	}
	if semi < 0 {
		if len(b) < maxRef {
			return 0, 0, "", ""
		}
		return 0, 0, CondNotWellFormed, "reference too long"
	}
	name := b[1:semi]
	n = semi + 1
	if len(name) > 0 && name[0] == '#' {
		digits := name[1:]
		base := rune(10)
		if len(digits) > 0 && digits[0] == 'x' {
			base, digits = 16, digits[1:]
		}
		if len(digits) == 0 {
			return 0, 0, CondNotWellFormed, "malformed character reference"
		}
		for _, c := range digits {
			var d rune
			switch {
			case c >= '0' && c <= '9':
				d = rune(c - '0')
			case base == 16 && c >= 'a' && c <= 'f':
				d = rune(c-'a') + 10
			case base == 16 && c >= 'A' && c <= 'F':
				d = rune(c-'A') + 10
			default:
				return 0, 0, CondNotWellFormed, "malformed character reference"
			}
			r = r*base + d
			if r > utf8.MaxRune {
				return 0, 0, CondNotWellFormed, "character reference out of range"
			}
		}
		if !isChar(r) {
			return 0, 0, CondNotWellFormed, "character reference to a character not allowed in XML"
		}
		return r, n, "", ""
	}
	switch string(name) {
	case "amp":
		return '&', n, "", ""
	case "lt":
		return '<', n, "", ""
	case "gt":
		return '>', n, "", ""
	case "quot":
		return '"', n, "", ""
	case "apos":
		return '\'', n, "", ""
	}
	if validName(name) {
		return 0, 0, CondRestrictedXML, "entity reference other than the predefined entities"
	}
	return 0, 0, CondNotWellFormed, "malformed entity reference"
}

// validName reports whether b is an XML Name (XML 1.0 §2.3, colons allowed).
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			ok := nameTab[c]&nameCharBit != 0
			if i == 0 {
				ok = nameTab[c]&nameStartBit != 0
			}
			if c == ':' {
				ok = true
			}
			if !ok {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if i == 0 && !isNameStartRune(r) || !isNameRune(r) {
			return false
		}
		i += n
	}
	return true
}

// Unescape appends to dst the character data raw stands for (XML 1.0 §2.4,
// §4.6): the five predefined entity references and character references are
// replaced, CDATA sections are copied without their markers, and line ends
// (CR LF, lone CR) become LF (§2.11). It validates as it goes: malformed or
// forbidden references, characters not allowed in XML, invalid UTF-8 and '<'
// outside a CDATA section give an *Error (Offset is the index in raw).
// Use it on element text taken from Token.Raw; use UnescapeAttr for
// attribute values.
func Unescape(dst, raw []byte) ([]byte, error) {
	return unescape(dst, raw, false)
}

// UnescapeAttr is Unescape for an attribute value (Attr.Value): it also
// applies attribute-value normalization of literal tab, CR and LF to spaces
// (XML 1.0 §3.3.3, for CDATA-typed attributes), and rejects '<' and CDATA
// sections.
func UnescapeAttr(dst, raw []byte) ([]byte, error) {
	return unescape(dst, raw, true)
}

func unescape(dst, raw []byte, attr bool) ([]byte, error) {
	i := 0
	for i < len(raw) {
		// Copy the run of ordinary bytes in one append.
		j := i
		for j < len(raw) && textTab[raw[j]] == 0 && raw[j] != '\r' && (!attr || raw[j] >= 0x20) {
			j++
		}
		dst = append(dst, raw[i:j]...)
		i = j
		if i >= len(raw) {
			break
		}
		c := raw[i]
		switch {
		case c == '&':
			r, n, cond, reason := parseRef(raw[i:])
			if n == 0 {
				if cond == "" {
					cond, reason = CondNotWellFormed, "unterminated reference"
				}
				return dst, &Error{Condition: cond, Offset: int64(i), Reason: reason}
			}
			dst = utf8.AppendRune(dst, r)
			i += n
		case c == '\r':
			if attr {
				dst = append(dst, ' ')
			} else {
				dst = append(dst, '\n')
			}
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case c == '\t' || c == '\n':
			dst = append(dst, ' ')
			i++
		case c == '>':
			if !attr && i >= 2 && raw[i-1] == ']' && raw[i-2] == ']' {
				return dst, &Error{Condition: CondNotWellFormed, Offset: int64(i), Reason: "\"]]>\" in character data"}
			}
			dst = append(dst, c)
			i++
		case c == '<':
			if attr || !hasPrefix(raw[i:], "<![CDATA[") {
				return dst, &Error{Condition: CondNotWellFormed, Offset: int64(i), Reason: "'<' in character data"}
			}
			i += len("<![CDATA[")
			end := indexString(raw[i:], "]]>")
			if end < 0 {
				return dst, &Error{Condition: CondNotWellFormed, Offset: int64(i), Reason: "unterminated CDATA section"}
			}
			var err error
			if dst, err = appendChars(dst, raw[i:i+end], i); err != nil {
				return dst, err
			}
			i += end + len("]]>")
		case c >= 0x80:
			_, n, cond, reason := decodeChar(raw[i:])
			if n == 0 {
				cond, reason = CondUnsupportedEncoding, "truncated UTF-8 sequence"
			}
			if cond != "" {
				return dst, &Error{Condition: cond, Offset: int64(i), Reason: reason}
			}
			dst = append(dst, raw[i:i+n]...)
			i += n
		default:
			return dst, &Error{Condition: CondNotWellFormed, Offset: int64(i), Reason: "character not allowed in XML"}
		}
	}
	return dst, nil
}

// appendChars appends b (CDATA content) after validating its characters and
// normalizing line ends. off is b's offset for error reports.
func appendChars(dst, b []byte, off int) ([]byte, error) {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\r':
			dst = append(dst, '\n')
			i++
			if i < len(b) && b[i] == '\n' {
				i++
			}
		case c >= 0x80:
			_, n, cond, reason := decodeChar(b[i:])
			if n == 0 {
				cond, reason = CondUnsupportedEncoding, "truncated UTF-8 sequence"
			}
			if cond != "" {
				return dst, &Error{Condition: cond, Offset: int64(off + i), Reason: reason}
			}
			dst = append(dst, b[i:i+n]...)
			i += n
		case c < 0x20 && c != '\t' && c != '\n':
			return dst, &Error{Condition: CondNotWellFormed, Offset: int64(off + i), Reason: "character not allowed in XML"}
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst, nil
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

func indexString(b []byte, p string) int {
	for i := 0; i+len(p) <= len(b); i++ {
		if b[i] == p[0] && string(b[i:i+len(p)]) == p {
			return i
		}
	}
	return -1
}

// AppendEscapedText appends s escaped as XML character data (XML 1.0 §2.4):
// '&', '<' and '>' become entity references and CR becomes "&#xD;" so that it
// survives line-end normalization. Characters XML cannot carry at all
// (invalid UTF-8, C0 controls other than tab and LF, U+FFFE, U+FFFF) are
// replaced by U+FFFD, so the output is always well-formed.
func AppendEscapedText(dst []byte, s string) []byte {
	return appendEscaped(dst, s, false)
}

// AppendEscapedAttr appends s escaped for an attribute value (XML 1.0 §3.1).
// Both quote characters are escaped, so the result may be put between either
// ' or "; tab, LF and CR become character references so that
// attribute-value normalization leaves them intact. Characters XML cannot
// carry are replaced by U+FFFD.
func AppendEscapedAttr(dst []byte, s string) []byte {
	return appendEscaped(dst, s, true)
}

func appendEscaped(dst []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		n := 1
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '\r':
			esc = "&#xD;"
		case attr && c == '"':
			esc = "&quot;"
		case attr && c == '\'':
			esc = "&apos;"
		case attr && c == '\n':
			esc = "&#xA;"
		case attr && c == '\t':
			esc = "&#x9;"
		case c < 0x20 && c != '\t' && c != '\n':
			esc = "\uFFFD"
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			n = size
			if r == utf8.RuneError && size == 1 || !isChar(r) {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			dst = append(dst, s[last:i]...)
			dst = append(dst, esc...)
			last = i + n
		}
		i += n
	}
	return append(dst, s[last:]...)
}

// ValidName reports whether s is an XML Name (XML 1.0 §2.3); colons are
// allowed, so a qualified name such as "xml:lang" is valid.
func ValidName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return validName([]byte(s))
		}
		ok := nameTab[c]&nameCharBit != 0 || c == ':'
		if i == 0 {
			ok = nameTab[c]&nameStartBit != 0 || c == ':'
		}
		if !ok {
			return false
		}
	}
	return len(s) > 0
}
