package stanza

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"xmppkit.dev/internal/wire"
	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/jid"
)

// Content namespaces of XMPP streams. Stanza children in any of them are
// indexed with namespace "".
const (
	NSClient    = "jabber:client"           // RFC 6120 §4.8.3, client streams
	NSServer    = "jabber:server"           // RFC 6120 §4.8.3, server streams
	NSComponent = "jabber:component:accept" // XEP-0114 §3, component streams
)

// IsContentNS reports whether ns is one of the content namespaces (jabber:client,
// jabber:server, jabber:component:accept) in which stanzas live.
func IsContentNS(ns string) bool {
	return ns == NSClient || ns == NSServer || ns == NSComponent
}

// Kind says which of the three stanzas (RFC 6120 §8) a Stanza is.
type Kind uint8

// The stanza kinds of RFC 6120 §8.
const (
	Message  Kind = iota + 1 // <message/>, RFC 6120 §8.2.1
	Presence                 // <presence/>, RFC 6120 §8.2.2
	IQ                       // <iq/>, RFC 6120 §8.2.3
)

// String returns the element name: "message", "presence" or "iq".
func (k Kind) String() string {
	switch k {
	case Message:
		return "message"
	case Presence:
		return "presence"
	case IQ:
		return "iq"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Stanza types used by the constructors (RFC 6120 §8.2.3, RFC 6121 §4.7.1, §5.2.2).
const (
	TypeGet    = "get"    // iq: ask for information
	TypeSet    = "set"    // iq: provide data or make a request
	TypeResult = "result" // iq: the answer to a get or set
	TypeError  = "error"  // any kind: an error reply (RFC 6120 §8.3)

	TypeChat      = "chat"      // message
	TypeGroupchat = "groupchat" // message
	TypeHeadline  = "headline"  // message
	TypeNormal    = "normal"    // message (also the meaning of no type)

	TypeUnavailable  = "unavailable"  // presence
	TypeSubscribe    = "subscribe"    // presence
	TypeSubscribed   = "subscribed"   // presence
	TypeUnsubscribe  = "unsubscribe"  // presence
	TypeUnsubscribed = "unsubscribed" // presence
	TypeProbe        = "probe"        // presence
)

// Stanza is a message, presence or iq stanza (RFC 6120 §8): the header
// attributes as fields and the payload as raw XML with an index of its direct
// child elements.
//
// The payload is the inner XML of the stanza element (everything between the
// start and end tags: child elements, and whitespace or text between them).
// Read it with Payload, Children, Child, Body and the Unmarshal methods; set it
// with SetPayload or the constructors, which keep the index in step.
//
// A Stanza that a handler received must not be modified while others may read
// it; Reply, Result and ErrorReply return new stanzas. Copy a Stanza with
// Clone, not by assignment: a copied value shares the child index of the
// original.
type Stanza struct {
	Kind Kind
	Type string  // the type attribute; "" when absent
	ID   string  // the id attribute; "" when absent
	From jid.JID // the from attribute; zero when absent
	To   jid.JID // the to attribute; zero when absent
	Lang string  // the xml:lang attribute; "" when absent (the stream's, RFC 6120 §4.7.4, applies)

	// NS, when not "", is written as the element's xmlns. It is "" for a
	// stanza decoded from a stream or built by a constructor: the element
	// then inherits the stream's content namespace.
	NS string

	payload string
	kids    []Element
	// attrs are other attributes of the stanza element (namespace prefix
	// declarations, extension attributes), kept to re-encode them.
	attrs []Attr
	// inline storage for the first children and attributes, so that a
	// typical stanza costs one allocation for the struct.
	kidBuf  [2]Element
	attrBuf [1]Attr
}

// Attr is an attribute of the stanza element other than the header ones,
// such as a namespace prefix declaration ("xmlns:x") or an extension
// attribute. Name is the qualified name as written; Value is unescaped.
type Attr struct {
	Name, Value string
}

// Element is one direct child element of a stanza's payload (or an element
// to put in one). Space is its namespace, "" for a content namespace; Local
// its local name. Its raw XML is available with XML.
//
// The zero Element with only Space and Local set stands for the empty
// element <Local xmlns='Space'/>.
type Element struct {
	Space, Local string

	xml string // outer XML; "" for an empty element built from the name
}

// XML returns the element's raw outer XML.
func (e Element) XML() string {
	if e.xml == "" && e.Local != "" {
		return string(e.appendXML(nil))
	}
	return e.xml
}

func (e Element) appendXML(dst []byte) []byte {
	if e.xml != "" || e.Local == "" {
		return append(dst, e.xml...)
	}
	dst = append(dst, '<')
	dst = append(dst, e.Local...)
	if e.Space != "" {
		dst = append(dst, " xmlns='"...)
		dst = xmlscan.AppendEscapedAttr(dst, e.Space)
		dst = append(dst, '\'')
	}
	return append(dst, "/>"...)
}

// Unmarshal decodes the element into v with encoding/xml.
func (e Element) Unmarshal(v any) error {
	return xml.Unmarshal([]byte(e.XML()), v)
}

// Text returns the character data directly inside the element, unescaped
// (for text-only elements such as <body/>; nested elements are skipped).
func (e Element) Text() (string, error) {
	inner, ok := wire.Inner(e.xml)
	if !ok {
		return "", nil
	}
	if strings.IndexByte(inner, '&') < 0 && strings.IndexByte(inner, '<') < 0 && strings.IndexByte(inner, '\r') < 0 {
		return inner, nil
	}
	// References, CR and CDATA sections; nested elements fall through to
	// encoding/xml, which skips them.
	if u, err := xmlscan.Unescape(nil, []byte(inner)); err == nil {
		return string(u), nil
	}
	var v struct {
		Text string `xml:",chardata"`
	}
	if err := e.Unmarshal(&v); err != nil {
		return "", err
	}
	return v.Text, nil
}

// Clone returns a copy of s that shares nothing mutable with it.
func (s *Stanza) Clone() *Stanza {
	c := *s
	c.kids, c.attrs = nil, nil
	if len(s.kids) > 0 {
		c.kids = append(c.kidBuf[:0], s.kids...)
	}
	if len(s.attrs) > 0 {
		c.attrs = append(c.attrBuf[:0], s.attrs...)
	}
	return &c
}

// Payload returns the raw inner XML of the stanza element.
func (s *Stanza) Payload() string { return s.payload }

// Children returns the index of the payload's direct child elements in
// document order. The slice is shared: do not modify it.
func (s *Stanza) Children() []Element { return s.kids[:len(s.kids):len(s.kids)] }

// Attrs returns the other attributes of the stanza element (see Attr). The
// slice is shared: do not modify it.
func (s *Stanza) Attrs() []Attr { return s.attrs[:len(s.attrs):len(s.attrs)] }

// Child returns the first direct child with the namespace and local name.
// Use space "" for a child in the stanza's content namespace (e.g. <body/>).
func (s *Stanza) Child(space, local string) (Element, bool) {
	for _, k := range s.kids {
		if k.Local == local && k.Space == space {
			return k, true
		}
	}
	return Element{}, false
}

// Body returns the text of the message's first <body/> child (RFC 6121
// §5.2.3), or "" when it has none.
func (s *Stanza) Body() string {
	b, ok := s.Child("", "body")
	if !ok {
		return ""
	}
	t, _ := b.Text()
	return t
}

// PayloadElement returns the one element an IQ is about (RFC 6120 §8.2.3): the only
// child of a get or set, the child of a result if it has one, and the first
// child other than <error/> of an error. It reports false when there is none
// (and for message and presence stanzas).
func (s *Stanza) PayloadElement() (Element, bool) {
	if s.Kind != IQ {
		return Element{}, false
	}
	for _, k := range s.kids {
		if s.Type == TypeError && k.Space == "" && k.Local == "error" {
			continue
		}
		return k, true
	}
	return Element{}, false
}

// PayloadName returns the namespace and local name of PayloadElement, or two
// empty strings. It allocates nothing.
func (s *Stanza) PayloadName() (space, local string) {
	e, _ := s.PayloadElement()
	return e.Space, e.Local
}

// Unmarshal decodes the IQ's PayloadElement into v with encoding/xml.
func (s *Stanza) Unmarshal(v any) error {
	e, ok := s.PayloadElement()
	if !ok {
		return errors.New("stanza: no iq payload to unmarshal")
	}
	return s.unmarshalChild(e, v)
}

// UnmarshalChild decodes the first direct child with the given name into v
// with encoding/xml. It returns an error when there is no such child.
func (s *Stanza) UnmarshalChild(space, local string, v any) error {
	e, ok := s.Child(space, local)
	if !ok {
		return fmt.Errorf("stanza: no child <%s xmlns='%s'/>", local, space)
	}
	return s.unmarshalChild(e, v)
}

// unmarshalChild decodes e, providing the namespace prefixes that the
// stanza element declares.
func (s *Stanza) unmarshalChild(e Element, v any) error {
	var decls []Attr
	for _, a := range s.attrs {
		if strings.HasPrefix(a.Name, "xmlns:") {
			decls = append(decls, a)
		}
	}
	if len(decls) == 0 {
		return e.Unmarshal(v)
	}
	var b []byte
	b = append(b, "<w"...)
	for _, a := range decls {
		b = append(b, ' ')
		b = append(b, a.Name...)
		b = append(b, "='"...)
		b = xmlscan.AppendEscapedAttr(b, a.Value)
		b = append(b, '\'')
	}
	b = append(b, '>')
	b = e.appendXML(b)
	b = append(b, "</w>"...)
	d := xml.NewDecoder(strings.NewReader(string(b)))
	if _, err := firstStart(d); err != nil {
		return err
	}
	start, err := firstStart(d)
	if err != nil {
		return err
	}
	return d.DecodeElement(v, &start)
}

// Err decodes the <error/> child of a stanza of type "error" (RFC 6120
// §8.3). It returns nil for a stanza of another type; a type='error' stanza
// without a readable <error/> child yields undefined-condition.
func (s *Stanza) Err() *Error {
	if s.Type != TypeError {
		return nil
	}
	e, ok := s.Child("", "error")
	if !ok {
		return &Error{Type: Cancel, Condition: UndefinedCondition, Text: "error stanza without <error/>"}
	}
	se, err := ParseError(e.XML())
	if err != nil {
		return &Error{Type: Cancel, Condition: UndefinedCondition, Text: err.Error()}
	}
	return se
}
