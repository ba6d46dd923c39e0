package xmlscan

import "unicode/utf8"

// Byte classes for the scanner's fast paths. A zero entry means "ordinary
// byte, keep going"; anything else sends the scanner to a slower check.
var (
	textTab  [256]uint8 // character data: '<', '&', '>', C0 controls, non-ASCII
	attrTab  [256]uint8 // attribute values: '<', '&', quotes, C0 controls, non-ASCII
	cdataTab [256]uint8 // CDATA sections: ']', C0 controls, non-ASCII
	nameTab  [256]uint8 // ASCII name characters (nameStartBit, nameCharBit)
)

const (
	nameStartBit = 1
	nameCharBit  = 2
)

func init() {
	for c := 0; c < 256; c++ {
		var special uint8
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c >= 0x80 {
			special = 1
		}
		textTab[c], attrTab[c], cdataTab[c] = special, special, special
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			nameTab[c] = nameStartBit | nameCharBit
		case c >= '0' && c <= '9', c == '-', c == '.':
			nameTab[c] = nameCharBit
		}
	}
	for _, c := range []byte{'<', '&', '>'} {
		textTab[c] = 1
	}
	for _, c := range []byte{'<', '&', '\'', '"'} {
		attrTab[c] = 1
	}
	cdataTab[']'] = 1
}

// isSpace reports XML white space (XML 1.0 §2.3 production S).
func isSpace(c byte) bool {
	return spaceTab[c]
}

var spaceTab = [256]bool{' ': true, '\n': true, '\t': true, '\r': true}

// isChar reports whether r is a legal XML 1.0 character (§2.2 production Char).
func isChar(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// isNameStartRune reports a non-colon NameStartChar (XML 1.0 fifth edition §2.3).
func isNameStartRune(r rune) bool {
	if r < 0x80 {
		return nameTab[r]&nameStartBit != 0
	}
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

// isNameRune reports a non-colon NameChar (XML 1.0 fifth edition §2.3).
func isNameRune(r rune) bool {
	if r < 0x80 {
		return nameTab[r] != 0
	}
	return isNameStartRune(r) || r == 0xB7 || r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040
}

// decodeChar decodes the non-ASCII character at the start of b. n is 0 when
// b holds only part of a valid sequence (more input is needed); cond is set
// when the bytes are not valid UTF-8 or not an XML character.
func decodeChar(b []byte) (r rune, n int, cond, reason string) {
	if !utf8.FullRune(b) {
		return 0, 0, "", ""
	}
	r, n = utf8.DecodeRune(b)
	if r == utf8.RuneError && n <= 1 {
		return r, n, CondUnsupportedEncoding, "invalid UTF-8"
	}
	if !isChar(r) {
		return r, n, CondNotWellFormed, "character not allowed in XML"
	}
	return r, n, "", ""
}
