package router

import (
	"bytes"
	"unsafe"

	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// header is what the router reads of a stanza to route it: the start tag's
// name and the attributes to, from, type and id (RFC 6120 §8.1). For a raw
// element the strings and JIDs point into the element's bytes and are valid
// only while the element is (during one routing call): nothing may retain
// them. For a decoded stanza they are the stanza's own fields.
type header struct {
	kind     stanza.Kind
	typ, id  string
	to, from jid.JID
	hasTo    bool // a to attribute is present (maybe malformed)
	hasFrom  bool // a from attribute is present (maybe malformed)
	// fromExact: the from attribute's value is the canonical form of from
	// (RFC 7622 §3: not, say, an upper-case or trailing-dot spelling of
	// it), so that it may be forwarded as written.
	fromExact bool
	badAddr   error // a malformed to or from (jid-malformed)
	nameEnd   int   // raw[:nameEnd] is "<" plus the element name
	fromAt    int   // raw[fromAt:fromEnd] is " from='…'" (with its leading space); 0 when none
	fromEnd   int
	hasLang   bool   // the start tag has xml:lang (RFC 6120 §8.1.5)
	prefixed  bool   // the element name has a prefix
	xmlns     string // the default namespace declared on the element, if any
}

// unsafeString returns a string sharing b's memory. The caller must not let
// it outlive b's current contents.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// attrValue returns the value of a raw attribute as a string without copying
// when it holds no reference; otherwise it unescapes (and allocates).
func attrValue(v []byte) (string, bool) {
	if bytes.IndexByte(v, '&') >= 0 {
		u, err := xmlscan.UnescapeAttr(nil, v)
		if err != nil {
			return "", false
		}
		return string(u), true
	}
	return unsafeString(v), true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseHeader reads the start tag of raw, a well-formed element as the
// scanner returned it, into h. It reports false when raw is not a message,
// presence or iq start tag. It allocates nothing unless an attribute value
// holds a character reference or an address needs preparation (RFC 7622).
func parseHeader(raw []byte, h *header) bool {
	*h = header{}
	if len(raw) < 3 || raw[0] != '<' {
		return false
	}
	i := 1
	for i < len(raw) && !isSpace(raw[i]) && raw[i] != '>' && raw[i] != '/' {
		i++
	}
	name := raw[1:i]
	h.nameEnd = i
	for k, c := range name {
		if c == ':' {
			h.prefixed = true
			name = name[k+1:]
			break
		}
	}
	if h.kind = stanzaKind(name); h.kind == 0 {
		return false
	}
	for {
		at := i
		for i < len(raw) && isSpace(raw[i]) {
			i++
		}
		if i >= len(raw) {
			return false
		}
		if raw[i] == '>' || raw[i] == '/' {
			for i < len(raw) && raw[i] != '>' {
				i++
			}
			return i < len(raw)
		}
		ns := i
		for i < len(raw) && raw[i] != '=' && !isSpace(raw[i]) {
			i++
		}
		aname := raw[ns:i]
		for i < len(raw) && raw[i] != '\'' && raw[i] != '"' {
			i++
		}
		if i >= len(raw) {
			return false
		}
		q := raw[i]
		i++
		vs := i
		for i < len(raw) && raw[i] != q {
			i++
		}
		if i >= len(raw) {
			return false
		}
		v := raw[vs:i]
		i++
		if string(aname) == "from" {
			h.fromAt, h.fromEnd = at, i
		}
		h.attr(aname, v)
	}
}

// attr records the unprefixed attribute name='v' (v still escaped) of a
// stanza start tag when it is one the router reads.
func (h *header) attr(name, v []byte) {
	switch string(name) {
	case "to":
		h.hasTo = true
		h.to = h.addr(v, "to")
	case "from":
		h.hasFrom = true
		h.from = h.addr(v, "from")
		h.fromExact = h.badAddr == nil && string(v) == h.from.String()
	case "type":
		h.typ, _ = attrValue(v)
	case "id":
		h.id, _ = attrValue(v)
	case "xmlns":
		h.xmlns, _ = attrValue(v)
	case "xml:lang":
		h.hasLang = true
	}
}

// stanzaKind returns the kind of the stanza named local (RFC 6120 §8), or 0.
func stanzaKind(local []byte) stanza.Kind {
	switch string(local) {
	case "message":
		return stanza.Message
	case "presence":
		return stanza.Presence
	case "iq":
		return stanza.IQ
	}
	return 0
}

// addr parses the address in the raw value v of attribute name, recording
// jid-malformed in h.badAddr when it is not one (RFC 7622).
func (h *header) addr(v []byte, name string) jid.JID {
	s, ok := attrValue(v)
	j, err := jid.Parse(s)
	if !ok || err != nil {
		h.badAddr = errMalformed(name)
		return jid.JID{}
	}
	return j
}

// elementHeader is parseHeader for an element read by a stream.Reader: it
// takes the name and attributes the scanner already parsed instead of
// reading the start tag again. It leaves fromAt at 0 (the position of a
// from attribute is not known); appendWithFrom then finds it itself.
// Element (a stanza in a content namespace) and header share lifetimes.
func elementHeader(el *stream.Element, h *header) bool {
	*h = header{}
	pfx, local := el.RawName()
	if h.kind = stanzaKind(local); h.kind == 0 {
		return false
	}
	h.nameEnd = 1 + len(local)
	if len(pfx) > 0 {
		h.prefixed = true
		h.nameEnd += len(pfx) + 1
	}
	for i := range el.NumAttr() {
		apfx, name, v := el.RawAttrAt(i)
		switch {
		case len(apfx) == 0:
			h.attr(name, v)
		case string(apfx) == "xml" && string(name) == "lang":
			h.hasLang = true
		}
	}
	return true
}

func errMalformed(attr string) *stanza.Error {
	return stanza.NewError(stanza.JIDMalformed, "malformed "+attr+" address")
}

// stanzaHeader fills h from a decoded stanza.
func stanzaHeader(st *stanza.Stanza, h *header) {
	*h = header{kind: st.Kind, typ: st.Type, id: st.ID, to: st.To, from: st.From,
		hasTo: !st.To.IsZero(), hasFrom: !st.From.IsZero(), fromExact: !st.From.IsZero(), hasLang: st.Lang != ""}
}

// appendWithFrom appends raw to dst with its from attribute replaced by (or,
// when it has none, set to) from: only the start tag changes.
func appendWithFrom(dst, raw []byte, h *header, from jid.JID) []byte {
	dst, _ = appendStamped(dst, raw, h, from, "")
	return dst
}

// appendStamped is appendWithFrom that also adds xml:lang='lang' after from
// when lang is not "" (the caller checked that raw has none). fromEnd is
// the offset, in what was appended, just after the from attribute.
func appendStamped(dst, raw []byte, h *header, from jid.JID, lang string) (out []byte, fromEnd int) {
	if h.hasFrom && h.fromAt == 0 {
		// h came from elementHeader: find the attribute in the bytes.
		var full header
		parseHeader(raw, &full)
		h.fromAt, h.fromEnd = full.fromAt, full.fromEnd
	}
	var head, tail []byte
	if h.fromAt > 0 {
		head, tail = raw[:h.fromAt], raw[h.fromEnd:]
	} else {
		head, tail = raw[:h.nameEnd], raw[h.nameEnd:]
	}
	start := len(dst)
	dst = append(dst, head...)
	dst = append(dst, " from='"...)
	dst = xmlscan.AppendEscapedAttr(dst, from.String())
	dst = append(dst, '\'')
	fromEnd = len(dst) - start
	if lang != "" {
		dst = append(dst, " xml:lang='"...)
		dst = xmlscan.AppendEscapedAttr(dst, lang)
		dst = append(dst, '\'')
	}
	return append(dst, tail...), fromEnd
}

// stampFrom appends raw with from stamped (see appendWithFrom) to dst and
// makes h, the header of raw, the header of the result without reading it
// again: only from and its position change. The strings in h keep pointing
// into raw, so raw must stay valid as long as h is used. A header with a
// malformed address is read again, since the stamped from may have fixed it.
func stampFrom(dst, raw []byte, h *header, from jid.JID) []byte {
	return stampFromLang(dst, raw, h, from, "")
}

// stampFromLang is stampFrom that also stamps xml:lang='lang' when lang is
// not "" and raw has no xml:lang (RFC 6120 §4.7.4: the stream's default
// language for a stanza without one).
func stampFromLang(dst, raw []byte, h *header, from jid.JID, lang string) []byte {
	if h.hasLang {
		lang = ""
	}
	start := len(dst)
	at := h.nameEnd
	dst, fromEnd := appendStamped(dst, raw, h, from, lang)
	if h.fromAt > 0 {
		at = h.fromAt
	}
	if h.badAddr != nil {
		parseHeader(dst[start:], h)
		return dst
	}
	h.fromAt, h.fromEnd = at, fromEnd
	h.from, h.hasFrom, h.fromExact = from, true, true
	h.hasLang = h.hasLang || lang != ""
	return dst
}
