package stanza

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unsafe"

	"xmppkit.dev/internal/wire"
	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/jid"
)

// ErrNotStanza is wrapped by the error Decode returns for a well-formed
// element that is not a message, presence or iq in a content namespace. On a
// stream this calls for the unsupported-stanza-type stream error (RFC 6120
// §4.9.3.22), not for a stanza error.
var ErrNotStanza = errors.New("not a stanza")

// Decode decodes one stanza element from b (RFC 6120 §8), a standalone
// element whose default namespace is jabber:client unless it declares
// another. b is not retained.
//
// Well-formedness errors are returned as is. A stanza that is well-formed but
// breaks RFC 6120 §8 (an iq without id, with a bad type, or a get or set
// without exactly one payload child; a presence with an unknown type; a
// malformed to or from) yields both a non-nil *Stanza holding what could be
// read, so that the caller can answer with ErrorReply, and a *Error
// (bad-request or jid-malformed).
func Decode(b []byte) (*Stanza, error) {
	fs := fragPool.Get().(*fragScanner)
	defer fragPool.Put(fs)
	fs.br.Reset(b)
	fs.sc.Reset(&fs.br)
	sc := fs.sc
	tok, err := nextElement(sc)
	if err != nil {
		return nil, err
	}
	s, err := fromToken(tok)
	if s == nil {
		return nil, err
	}
	if _, err2 := nextElement(sc); err2 == nil {
		return nil, errors.New("stanza: more than one element")
	} else if !isEOF(err2) {
		return nil, err2
	}
	return s, err
}

// fragScanner is a fragment-mode scanner kept in a pool for Decode,
// ParseElement and SetPayload.
type fragScanner struct {
	br bytes.Reader
	sr strings.Reader
	sc *xmlscan.Scanner
}

// scanString returns a pooled scanner reading s; put it back with
// fragPool.Put once its tokens are no longer used.
func scanString(s string) *fragScanner {
	fs := fragPool.Get().(*fragScanner)
	fs.sr.Reset(s)
	fs.sc.Reset(&fs.sr)
	return fs
}

var fragPool = sync.Pool{New: func() any {
	fs := &fragScanner{}
	fs.sc = xmlscan.New(&fs.br, xmlscan.Options{Fragment: true, DefaultNS: NSClient})
	return fs
}}

// nextElement returns the next element token, skipping whitespace.
func nextElement(sc *xmlscan.Scanner) (*xmlscan.Token, error) {
	for {
		tok, err := sc.Next()
		if err != nil {
			return nil, err
		}
		if tok.Kind == xmlscan.KindElement {
			return tok, nil
		}
		if tok.Kind != xmlscan.KindWhitespace {
			return nil, fmt.Errorf("stanza: unexpected %v token", tok.Kind)
		}
	}
}

func isEOF(err error) bool { return err != nil && errors.Is(err, io.EOF) }

// fromToken decodes a scanned element; it makes one copy of tok.Raw.
func fromToken(tok *xmlscan.Token) (*Stanza, error) {
	st := &tok.Start
	var kind Kind
	switch string(st.Local) {
	case "message":
		kind = Message
	case "presence":
		kind = Presence
	case "iq":
		kind = IQ
	}
	if kind == 0 || len(st.Space) > 0 && !IsContentNS(string(st.Space)) {
		return nil, fmt.Errorf("stanza: <%s xmlns='%s'/>: %w", st.Local, st.Space, ErrNotStanza)
	}
	raw := tok.Raw
	s, str := newStanza(raw)
	s.Kind = kind
	var verr *Error
	for i := range st.Attrs {
		a := &st.Attrs[i]
		switch {
		case len(a.Prefix) == 0:
			switch string(a.Local) {
			case "type":
				s.Type = attrValue(str, raw, a.Value)
			case "id":
				s.ID = attrValue(str, raw, a.Value)
			case "from", "to":
				v := attrValue(str, raw, a.Value)
				j, err := jid.Parse(v)
				if err != nil {
					if verr == nil {
						verr = &Error{Type: Modify, Condition: JIDMalformed, Text: fmt.Sprintf("bad %s address: %v", a.Local, err)}
					}
				} else if a.Local[0] == 'f' {
					s.From = j
				} else {
					s.To = j
				}
			case "xmlns":
				// The element's namespace, already resolved by the scanner;
				// a content namespace is inherited from the stream.
			default:
				s.addAttr(str, raw, a)
			}
		case string(a.Prefix) == "xml" && string(a.Local) == "lang":
			s.Lang = attrValue(str, raw, a.Value)
		default:
			s.addAttr(str, raw, a)
		}
	}
	// Payload: between the end of the start tag and the start of the end tag.
	s.payload = payloadOf(str, raw, st)
	if n := len(tok.Children); n > 0 {
		if n <= len(s.kidBuf) {
			s.kids = s.kidBuf[:0]
		} else {
			s.kids = make([]Element, 0, n)
		}
		for _, c := range tok.Children {
			e := Element{Local: substr(str, raw, c.Local), xml: str[c.Off:c.End]}
			if len(c.Space) > 0 && !IsContentNS(string(c.Space)) {
				e.Space = substr(str, raw, c.Space)
			}
			s.kids = append(s.kids, e)
		}
	}
	if verr == nil {
		verr = s.validate()
	}
	if verr != nil {
		return s, verr
	}
	return s, nil
}

// Stanzas with their bytes in one allocation: a decoded stanza's strings
// are substrings of its copy of the element, so the copy lives in the same
// object as the struct, for the sizes most stanzas have (a chat message of
// a few hundred bytes); larger elements take a second allocation.
type (
	stanza128 struct {
		s Stanza
		b [128]byte
	}
	stanza192 struct {
		s Stanza
		b [192]byte
	}
	stanza256 struct {
		s Stanza
		b [256]byte
	}
	stanza512 struct {
		s Stanza
		b [512]byte
	}
	stanza1k struct {
		s Stanza
		b [1024]byte
	}
	stanza2k struct {
		s Stanza
		b [2048]byte
	}
)

// newStanza returns an empty stanza and its own copy of raw, as a string,
// in one allocation when raw is at most 2 KiB.
func newStanza(raw []byte) (*Stanza, string) {
	n := len(raw)
	var s *Stanza
	var b []byte
	switch {
	case n <= 128:
		x := new(stanza128)
		s, b = &x.s, x.b[:n]
	case n <= 192:
		x := new(stanza192)
		s, b = &x.s, x.b[:n]
	case n <= 256:
		x := new(stanza256)
		s, b = &x.s, x.b[:n]
	case n <= 512:
		x := new(stanza512)
		s, b = &x.s, x.b[:n]
	case n <= 1024:
		x := new(stanza1k)
		s, b = &x.s, x.b[:n]
	case n <= 2048:
		x := new(stanza2k)
		s, b = &x.s, x.b[:n]
	default:
		return new(Stanza), string(raw)
	}
	copy(b, raw)
	if n == 0 {
		return s, ""
	}
	// The bytes are never written again: the string is immutable.
	return s, unsafe.String(&b[0], n)
}

// payloadOf returns the inner XML of the element in str (a copy of raw),
// finding the end of the start tag from the last attribute's position
// rather than by scanning the whole tag.
func payloadOf(str string, raw []byte, st *xmlscan.Start) string {
	p := -1
	if n := len(st.Attrs); n > 0 {
		if v := st.Attrs[n-1].Value; len(v) > 0 {
			if o := offset(raw, v); o >= 0 {
				p = o + len(v) + 1 // past the closing quote
			}
		}
	} else if o := offset(raw, st.Local); o >= 0 {
		p = o + len(st.Local)
	}
	if p < 0 {
		inner, _ := wire.Inner(str)
		return inner
	}
	for p < len(str) && str[p] != '>' {
		p++
	}
	if p >= len(str) || str[p-1] == '/' {
		return ""
	}
	close := strings.LastIndexByte(str, '<')
	if close <= p {
		return ""
	}
	return str[p+1 : close]
}

// validate checks the rules of RFC 6120 §8.2.3 for iq and RFC 6121 §4.7.1
// for presence types.
func (s *Stanza) validate() *Error {
	switch s.Kind {
	case IQ:
		if s.ID == "" {
			return NewError(BadRequest, "iq without id")
		}
		switch s.Type {
		case TypeGet, TypeSet:
			if len(s.kids) != 1 {
				return NewError(BadRequest, fmt.Sprintf("iq of type %s with %d payload elements, want exactly one", s.Type, len(s.kids)))
			}
		case TypeResult:
			if len(s.kids) > 1 {
				return NewError(BadRequest, "iq result with more than one payload element")
			}
		case TypeError:
		default:
			return NewError(BadRequest, fmt.Sprintf("iq with bad type %q", s.Type))
		}
	case Presence:
		switch s.Type {
		case "", TypeUnavailable, TypeSubscribe, TypeSubscribed, TypeUnsubscribe,
			TypeUnsubscribed, TypeProbe, TypeError:
		default:
			return NewError(BadRequest, fmt.Sprintf("presence with unknown type %q", s.Type))
		}
	}
	return nil
}

func (s *Stanza) addAttr(str string, raw []byte, a *xmlscan.Attr) {
	name := substr(str, raw, a.Local)
	if len(a.Prefix) > 0 {
		// Prefix and local name are adjacent in the raw tag ("p:l").
		p := offset(raw, a.Prefix)
		l := offset(raw, a.Local)
		if p >= 0 && l == p+len(a.Prefix)+1 {
			name = str[p : l+len(a.Local)]
		} else {
			name = string(a.Prefix) + ":" + string(a.Local)
		}
	}
	if s.attrs == nil {
		s.attrs = s.attrBuf[:0]
	}
	s.attrs = append(s.attrs, Attr{Name: name, Value: attrValue(str, raw, a.Value)})
}

// attrValue returns the unescaped, normalized attribute value (XML 1.0
// §3.3.3), as a substring of str when it holds no reference and no
// whitespace to normalize.
func attrValue(str string, raw, v []byte) string {
	plain := true
	for _, c := range v {
		if c == '&' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		return substr(str, raw, v)
	}
	u, err := xmlscan.UnescapeAttr(nil, v)
	if err != nil {
		// The scanner has checked the references; keep the raw text.
		return string(v)
	}
	return string(u)
}

// substr returns b as a string: the substring of str (a copy of raw) at the
// same place when b lies within raw, or else a fresh copy.
func substr(str string, raw, b []byte) string {
	if o := offset(raw, b); o >= 0 {
		return str[o : o+len(b)]
	}
	return string(b)
}

// offset returns where b starts within raw, or -1 when b does not lie
// within raw's memory. The pointers are only compared, never dereferenced.
func offset(raw, b []byte) int {
	if len(b) == 0 || len(raw) == 0 {
		return -1
	}
	o := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(raw))))
	if o < 0 || o > len(raw)-len(b) {
		return -1
	}
	return o
}

// ParseElement parses raw as exactly one XML element for a payload, checking
// that it is well-formed XMPP XML (RFC 6120 §11) with the scanner. An
// element without xmlns is taken to be in the content namespace (Space "").
func ParseElement(raw string) (Element, error) {
	raw = strings.TrimSpace(raw)
	fs := scanString(raw)
	defer fragPool.Put(fs)
	sc := fs.sc
	tok, err := nextElement(sc)
	if err != nil {
		return Element{}, fmt.Errorf("stanza: bad element: %w", err)
	}
	e := Element{Local: string(tok.Start.Local), xml: raw}
	if sp := string(tok.Start.Space); !IsContentNS(sp) {
		e.Space = sp
	}
	if _, err := nextElement(sc); !isEOF(err) {
		if err == nil {
			err = errors.New("more than one element")
		}
		return Element{}, fmt.Errorf("stanza: bad element: %w", err)
	}
	return e, nil
}

// MustElement is ParseElement for XML written in the program's source; it
// panics on error.
func MustElement(raw string) Element {
	e, err := ParseElement(raw)
	if err != nil {
		panic(err)
	}
	return e
}

// SetPayload replaces the payload with raw XML: zero or more elements, with
// optional whitespace between them. It is checked with the scanner and
// indexed; on error the stanza is left unchanged.
func (s *Stanza) SetPayload(raw string) error {
	if raw == "" {
		s.payload, s.kids = "", nil
		return nil
	}
	wrapped := "<w>" + raw + "</w>"
	fs := scanString(wrapped)
	defer fragPool.Put(fs)
	sc := fs.sc
	tok, err := nextElement(sc)
	if err != nil {
		return fmt.Errorf("stanza: bad payload: %w", err)
	}
	if _, err := nextElement(sc); !isEOF(err) {
		if err == nil {
			err = errors.New("stray end tag")
		}
		return fmt.Errorf("stanza: bad payload: %w", err)
	}
	payload := wrapped[3 : len(wrapped)-4]
	kids := make([]Element, 0, len(tok.Children))
	for _, c := range tok.Children {
		e := Element{Local: string(c.Local), xml: payload[c.Off-3 : c.End-3]}
		if sp := string(c.Space); !IsContentNS(sp) {
			e.Space = sp
		}
		kids = append(kids, e)
	}
	s.payload, s.kids = payload, kids
	return nil
}

func init() {
	wire.DecodeStanza = func(tok *xmlscan.Token) (any, error) {
		s, err := fromToken(tok)
		if s == nil {
			return nil, err
		}
		return s, err
	}
}
