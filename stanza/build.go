package stanza

import (
	"encoding/hex"
	"encoding/xml"
	"sync/atomic"

	"github.com/google/uuid"

	"xmppkit.dev/internal/xmlscan"

	"xmppkit.dev/jid"
)

// idBase is a random version 4 UUID drawn once per process; NewID adds a
// counter to its last 48 bits.
var (
	idBase  [16]byte = uuid.New()
	idCount atomic.Uint64
)

// NewID returns a fresh stanza id (RFC 6120 §8.1.3): a version 4 UUID in its
// 36-character text form, unique within the process (a counter in its last
// 48 bits) and across processes (74 random bits drawn once at start). It
// costs one allocation and no call to crypto/rand. The ids are not secret:
// an attacker who sees one can guess the next.
func NewID() string {
	n := idCount.Add(1)
	u := idBase
	var lo uint64
	for i := 10; i < 16; i++ {
		lo = lo<<8 | uint64(u[i])
	}
	lo += n
	for i := 15; i >= 10; i-- {
		u[i] = byte(lo)
		lo >>= 8
	}
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// NewMessage returns a message stanza (RFC 6121 §5) of the given type to the
// address, with a fresh id and, when body is not "", a <body/> child.
func NewMessage(typ string, to jid.JID, body string) *Stanza {
	s := &Stanza{Kind: Message, Type: typ, ID: NewID(), To: to}
	if body != "" {
		s.setBody(body)
	}
	return s
}

// setBody makes a <body/> of text, escaped, the whole payload.
func (s *Stanza) setBody(text string) {
	b := make([]byte, 0, len(text)+13)
	b = append(b, "<body>"...)
	b = xmlscan.AppendEscapedText(b, text)
	b = append(b, "</body>"...)
	s.payload = string(b)
	s.kidBuf[0] = Element{Local: "body", xml: s.payload}
	s.kids = s.kidBuf[:1]
}

// NewPresence returns a presence stanza (RFC 6121 §4) of the given type
// ("" for available) to the address (zero for a broadcast), with no id.
func NewPresence(typ string, to jid.JID) *Stanza {
	return &Stanza{Kind: Presence, Type: typ, To: to}
}

// NewIQ returns an iq stanza (RFC 6120 §8.2.3) of the given type to the
// address with a fresh id and the given payload (one element for get and
// set).
func NewIQ(typ string, to jid.JID, payload ...Element) *Stanza {
	s := &Stanza{Kind: IQ, Type: typ, ID: NewID(), To: to}
	s.setElements(payload)
	return s
}

// SetPayloadElements replaces the payload with the given elements.
func (s *Stanza) SetPayloadElements(elems ...Element) { s.setElements(elems) }

// AddChild appends an element to the payload.
func (s *Stanza) AddChild(e Element) {
	elems := make([]Element, 0, len(s.kids)+1)
	elems = append(append(elems, s.kids...), e)
	s.setElements(elems)
}

func (s *Stanza) setElements(elems []Element) {
	s.kids = nil
	s.payload = ""
	if len(elems) == 0 {
		return
	}
	if len(elems) == 1 && elems[0].xml != "" {
		s.payload = elems[0].xml
		s.kidBuf[0] = elems[0]
		s.kids = s.kidBuf[:1]
		return
	}
	var b []byte
	offs := make([]int, len(elems)+1)
	for i, e := range elems {
		offs[i] = len(b)
		b = e.appendXML(b)
	}
	offs[len(elems)] = len(b)
	s.payload = string(b)
	s.kids = s.kidBuf[:0]
	for i, e := range elems {
		s.kids = append(s.kids, Element{Space: e.Space, Local: e.Local, xml: s.payload[offs[i]:offs[i+1]]})
	}
}

// MarshalElement encodes v with encoding/xml.Marshal into an Element for a
// payload. v must encode to exactly one element.
func MarshalElement(v any) (Element, error) {
	b, err := xml.Marshal(v)
	if err != nil {
		return Element{}, err
	}
	return ParseElement(string(b))
}

// Reply returns a new stanza of the same kind and type for answering s: To
// and From swapped, the same id, no payload. For an iq it is the empty
// result (RFC 6120 §8.2.3). The reply comes from the address s was sent to
// (a message to echo@svc.example is answered from echo@svc.example, not
// from svc.example).
func (s *Stanza) Reply() *Stanza {
	r := &Stanza{Kind: s.Kind, Type: s.Type, ID: s.ID, From: s.To, To: s.From}
	if s.Kind == IQ {
		r.Type = TypeResult
	}
	return r
}

// ReplyBody returns Reply with a <body/> of text (RFC 6121 §5.2.3), escaped:
// the natural answer to a chat message, from the address it was sent to,
// to its sender, with its type and id. Text is character data, never
// markup: "<b>" arrives as the four characters it is.
func (s *Stanza) ReplyBody(text string) *Stanza {
	r := s.Reply()
	r.setBody(text)
	return r
}

// Result returns the iq result (RFC 6120 §8.2.3) answering the get or set s,
// with To and From swapped, the same id, and the given payload.
func (s *Stanza) Result(payload ...Element) *Stanza {
	r := &Stanza{Kind: s.Kind, Type: TypeResult, ID: s.ID, From: s.To, To: s.From}
	r.setElements(payload)
	return r
}

// ErrorReply returns the error stanza (RFC 6120 §8.3) answering s: type
// "error", To and From swapped, the same id, the iq's original payload element
// (RFC 6120 §8.3.1 allows it; for message and presence the original payload
// is left out) and the <error/> element. It returns nil when s is itself of
// type "error": an error stanza is never answered with another (§8.3.1).
// A nil e means undefined-condition.
func (s *Stanza) ErrorReply(e *Error) *Stanza {
	if s.Type == TypeError {
		return nil
	}
	if e == nil {
		e = ErrUndefinedCondition
	}
	r := &Stanza{Kind: s.Kind, Type: TypeError, ID: s.ID, From: s.To, To: s.From}
	var b []byte
	var orig Element
	var hasOrig bool
	if s.Kind == IQ {
		orig, hasOrig = s.PayloadElement()
	}
	if hasOrig {
		b = append(b, orig.xml...)
		for _, a := range s.attrs {
			if len(a.Name) > 6 && a.Name[:6] == "xmlns:" {
				r.attrs = append(r.attrs, a)
			}
		}
	}
	off := len(b)
	b = e.AppendXML(b)
	r.payload = string(b)
	r.kids = r.kidBuf[:0]
	if hasOrig {
		r.kids = append(r.kids, Element{Space: orig.Space, Local: orig.Local, xml: r.payload[:off]})
	}
	r.kids = append(r.kids, Element{Local: "error", xml: r.payload[off:]})
	return r
}

// AppendXML appends the stanza element to dst and returns the extended
// buffer. Attribute values and text are escaped; characters that XML 1.0
// cannot carry are written as U+FFFD. The element has an xmlns only when NS
// is set. It allocates nothing beyond the growth of dst.
func (s *Stanza) AppendXML(dst []byte) []byte {
	name := s.Kind.String()
	dst = append(dst, '<')
	dst = append(dst, name...)
	if s.NS != "" {
		dst = appendAttrPair(dst, "xmlns", s.NS)
	}
	if !s.From.IsZero() {
		dst = appendAttrPair(dst, "from", s.From.String())
	}
	if !s.To.IsZero() {
		dst = appendAttrPair(dst, "to", s.To.String())
	}
	if s.ID != "" {
		dst = appendAttrPair(dst, "id", s.ID)
	}
	if s.Type != "" {
		dst = appendAttrPair(dst, "type", s.Type)
	}
	if s.Lang != "" {
		dst = appendAttrPair(dst, "xml:lang", s.Lang)
	}
	for _, a := range s.attrs {
		dst = appendAttrPair(dst, a.Name, a.Value)
	}
	if s.payload == "" {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = append(dst, s.payload...)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// String returns the stanza's XML.
func (s *Stanza) String() string { return string(s.AppendXML(nil)) }

// AsElement returns the stanza as an Element, to be carried inside another
// element (XEP-0297 forwarding, XEP-0355 delegation): its XML as
// AppendXML writes it, with NS as its xmlns when set. It is not scanned
// again: a Stanza always encodes to one well-formed element.
func (s *Stanza) AsElement() Element {
	e := Element{Local: s.Kind.String(), xml: string(s.AppendXML(make([]byte, 0, len(s.payload)+160)))}
	if !IsContentNS(s.NS) {
		e.Space = s.NS
	}
	return e
}

func appendAttrPair(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = appendAttrValue(dst, value)
	return append(dst, '\'')
}

// plainAttr marks the bytes an attribute value carries as is: printable
// ASCII other than the markup characters and quotes.
var plainAttr = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range "&<>'\"" {
		t[c] = false
	}
	return t
}()

// appendAttrValue is xmlscan.AppendEscapedAttr with a fast path for the
// common value that needs no escaping (ids, types, ASCII addresses).
func appendAttrValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainAttr[s[i]] {
			return xmlscan.AppendEscapedAttr(dst, s)
		}
	}
	return append(dst, s...)
}
