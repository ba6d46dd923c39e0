package router

import (
	"unsafe"

	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
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
	hasTo    bool  // a to attribute is present (maybe malformed)
	hasFrom  bool  // a from attribute is present (maybe malformed)
	badAddr  error // a malformed to or from (jid-malformed)
	nameEnd  int   // raw[:nameEnd] is "<" plus the element name
	tagEnd   int   // index of the start tag's '>'
	fromAt   int   // raw[fromAt:fromEnd] is " from='…'" (with its leading space); 0 when none
	fromEnd  int
	prefixed bool   // the element name has a prefix
	xmlns    string // the default namespace declared on the element, if any
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
	for _, c := range v {
		if c == '&' {
			u, err := xmlscan.UnescapeAttr(nil, v)
			if err != nil {
				return "", false
			}
			return string(u), true
		}
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
	switch string(name) {
	case "message":
		h.kind = stanza.Message
	case "presence":
		h.kind = stanza.Presence
	case "iq":
		h.kind = stanza.IQ
	default:
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
			h.tagEnd = i
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
		switch string(aname) {
		case "to":
			h.hasTo = true
			s, ok := attrValue(v)
			j, err := jid.Parse(s)
			if !ok || err != nil {
				h.badAddr = errMalformed("to")
			} else {
				h.to = j
			}
		case "from":
			h.hasFrom = true
			h.fromAt, h.fromEnd = at, i
			s, ok := attrValue(v)
			j, err := jid.Parse(s)
			if !ok || err != nil {
				h.badAddr = errMalformed("from")
			} else {
				h.from = j
			}
		case "type":
			h.typ, _ = attrValue(v)
		case "id":
			h.id, _ = attrValue(v)
		case "xmlns":
			h.xmlns, _ = attrValue(v)
		}
	}
}

func errMalformed(attr string) *stanza.Error {
	return stanza.NewError(stanza.JIDMalformed, "malformed "+attr+" address")
}

// stanzaHeader fills h from a decoded stanza.
func stanzaHeader(st *stanza.Stanza, h *header) {
	*h = header{kind: st.Kind, typ: st.Type, id: st.ID, to: st.To, from: st.From,
		hasTo: !st.To.IsZero(), hasFrom: !st.From.IsZero()}
}

// appendWithFrom appends raw to dst with its from attribute replaced by (or,
// when it has none, set to) from: only the start tag changes.
func appendWithFrom(dst, raw []byte, h *header, from jid.JID) []byte {
	var head, tail []byte
	if h.fromAt > 0 {
		head, tail = raw[:h.fromAt], raw[h.fromEnd:]
	} else {
		head, tail = raw[:h.nameEnd], raw[h.nameEnd:]
	}
	dst = append(dst, head...)
	dst = append(dst, " from='"...)
	dst = xmlscan.AppendEscapedAttr(dst, from.String())
	dst = append(dst, '\'')
	return append(dst, tail...)
}
