package jid

import "strings"

// escapable are the characters XEP-0106 §3.2 escapes, besides '\' itself.
const escapable = ` "&'/:<>@`

// escapeCode returns the code of the XEP-0106 escape sequence that s starts
// with ("\20" ... "\5c", lowercase only), and the character it stands for.
func escapeCode(s string) (byte, bool) {
	if len(s) < 3 || s[0] != '\\' {
		return 0, false
	}
	switch s[1:3] {
	case "20":
		return ' ', true
	case "22":
		return '"', true
	case "26":
		return '&', true
	case "27":
		return '\'', true
	case "2f":
		return '/', true
	case "3a":
		return ':', true
	case "3c":
		return '<', true
	case "3e":
		return '>', true
	case "40":
		return '@', true
	case "5c":
		return '\\', true
	}
	return 0, false
}

const hexdigits = "0123456789abcdef"

// Escape turns a user-supplied name into a localpart that may contain the
// characters RFC 7622 §3.3.1 forbids, using the JID escaping of XEP-0106
// (e.g. "d'artagnan" becomes `d\27artagnan`). The result still has to go
// through [New] or [Parse] to be prepared.
//
// Following XEP-0106:
//   - leading and trailing spaces are dropped, since `\20` must not begin or
//     end an escaped localpart (§3.2, §4.1 rule 6);
//   - a backslash that begins an escape sequence is escaped to `\5c` (§4.1
//     rule 7); other backslashes are left alone (§4.3, e.g. `foo\bar` is not
//     modified), except in a name that has other characters to escape, where
//     every backslash becomes `\5c`, as the examples of §5.1 show
//     (`c:\net` becomes `c\3a\5cnet`). In both cases [Unescape] restores the
//     input.
func Escape(local string) string {
	local = strings.Trim(local, " ")
	all := strings.ContainsAny(local, escapable)
	if !all && !strings.Contains(local, `\`) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 8)
	for i := 0; i < len(local); i++ {
		c := local[i]
		esc := strings.IndexByte(escapable, c) >= 0
		if c == '\\' {
			_, seq := escapeCode(local[i:])
			esc = all || seq
		}
		if !esc {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('\\')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&0xf])
	}
	return b.String()
}

// Unescape turns an escaped localpart back into the name to show a person
// (XEP-0106 §3.3). Only the ten sequences of XEP-0106 are unescaped, in
// lowercase; anything else, such as `\2plus` or `\41`, is kept as is (§4.3).
// A `\20` at the very beginning or end is not a valid escape (§4.1 rule 6)
// and is kept too.
func Unescape(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c, ok := escapeCode(s[i:])
		if ok && c == ' ' && (i == 0 || i+3 == len(s)) {
			ok = false
		}
		if !ok {
			b.WriteByte(s[i])
			continue
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String()
}
