// Package wire holds what packages stanza and stream share without
// exporting it: decoding a stanza from a scanner token that stream already
// holds (so an element is never scanned twice and no exported function takes
// an internal type), and small XML encoding helpers.
package wire

import "xmppkit.dev/internal/xmlscan"

// DecodeStanza decodes an element token into a *stanza.Stanza (returned as
// any to avoid an import cycle). Package stanza sets it in its init
// function, so it is usable from any package that imports stanza. The result
// is nil exactly when the element is not a stanza or cannot be read; a
// stanza that breaks RFC 6120 §8 comes with a *stanza.Error.
var DecodeStanza func(tok *xmlscan.Token) (any, error)

// TagEnd returns the index of the '>' that ends the start tag at the
// beginning of raw, skipping quoted attribute values, or -1.
func TagEnd[T string | []byte](raw T) int {
	var quote byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

// Inner returns the bytes between the start tag and the end tag of the
// element in raw, and false for an empty element (<x/>) or a malformed one.
func Inner[T string | []byte](raw T) (T, bool) {
	end := TagEnd(raw)
	if end <= 0 || raw[end-1] == '/' {
		return raw[:0], false
	}
	close := -1
	for i := len(raw) - 1; i > end; i-- {
		if raw[i] == '<' {
			close = i
			break
		}
	}
	if close < 0 {
		return raw[:0], false
	}
	return raw[end+1 : close], true
}

// AppendCondition appends a defined-condition element and its optional text
// element, as stanza errors (RFC 6120 §8.3.2) and stream errors (§4.9.2)
// share them: <cond xmlns='ns'>content</cond><text xmlns='ns'
// xml:lang='lang'>text</text>.
func AppendCondition(dst []byte, ns, cond, content, text, lang string) []byte {
	dst = append(dst, '<')
	dst = append(dst, cond...)
	dst = append(dst, " xmlns='"...)
	dst = append(dst, ns...)
	dst = append(dst, '\'')
	if content != "" {
		dst = append(dst, '>')
		dst = xmlscan.AppendEscapedText(dst, content)
		dst = append(dst, "</"...)
		dst = append(dst, cond...)
		dst = append(dst, '>')
	} else {
		dst = append(dst, "/>"...)
	}
	if text != "" {
		dst = append(dst, "<text xmlns='"...)
		dst = append(dst, ns...)
		dst = append(dst, '\'')
		if lang != "" {
			dst = append(dst, " xml:lang='"...)
			dst = xmlscan.AppendEscapedAttr(dst, lang)
			dst = append(dst, '\'')
		}
		dst = append(dst, '>')
		dst = xmlscan.AppendEscapedText(dst, text)
		dst = append(dst, "</text>"...)
	}
	return dst
}
