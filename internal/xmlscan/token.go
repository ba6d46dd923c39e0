package xmlscan

import (
	"strconv"
)

// Namespace names used by the scanner (Namespaces in XML 1.0 §3).
const (
	// NSXML is the namespace bound to the "xml" prefix (xml:lang, RFC 6120 §4.7.4).
	NSXML = "http://www.w3.org/XML/1998/namespace"
	// NSXMLNS is the namespace of namespace declaration attributes.
	NSXMLNS = "http://www.w3.org/2000/xmlns/"
)

// Default limits applied when a Limits field is zero.
const (
	DefaultMaxElement = 512 << 10 // bytes of one top-level element
	DefaultMaxDepth   = 64        // nesting depth; the top-level element is depth 1
	DefaultMaxAttrs   = 64        // attributes (namespace declarations included) on one start tag
	DefaultMaxHeader  = 8 << 10   // bytes of XML declaration plus stream header
)

// Limits bound the resources one peer can make the scanner use (RFC 6120
// §13.12, "Denial of Service"). A zero field means its default. Exceeding a
// limit yields an *Error with condition policy-violation, detected while
// reading: the scanner never buffers more than MaxElement bytes (plus one read
// chunk) of an element it is going to reject.
type Limits struct {
	MaxElement int // bytes of a top-level element, tags included; default 512 KiB
	MaxDepth   int // element nesting depth, top-level element = 1; default 64
	MaxAttrs   int // attributes per start tag, namespace declarations included; default 64
	MaxHeader  int // bytes before the end of the stream header start tag; default 8 KiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxElement <= 0 {
		l.MaxElement = DefaultMaxElement
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultMaxAttrs
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = DefaultMaxHeader
	}
	return l
}

// Options configure a Scanner.
//
// With Fragment false the input is an XML stream (RFC 6120 §4): an optional
// XML declaration, the stream header, top-level elements and whitespace, and
// the closing tag. With Fragment true the input is a sequence of top-level
// elements (and whitespace) with no header; unprefixed elements without an
// xmlns declaration are in namespace DefaultNS. Fragment mode is what a
// stanza decoder uses to parse a standalone element.
type Options struct {
	Limits    Limits
	Fragment  bool
	DefaultNS string
}

// Kind says what a Token is.
type Kind uint8

// Token kinds.
const (
	// KindHeader is the stream header start tag (RFC 6120 §4.7); Raw is
	// the start tag only, without any XML declaration before it.
	KindHeader Kind = iota + 1
	// KindElement is a complete top-level element (RFC 6120 §4.1: a
	// stanza or a stream-level element).
	KindElement
	// KindWhitespace is whitespace between top-level elements (a
	// keepalive, RFC 6120 §4.6.1). Adjacent whitespace may be split across
	// several tokens, depending on how the bytes arrived.
	KindWhitespace
	// KindClose is the stream's closing tag (RFC 6120 §4.4). After it,
	// Next returns io.EOF without reading further.
	KindClose
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindHeader:
		return "header"
	case KindElement:
		return "element"
	case KindWhitespace:
		return "whitespace"
	case KindClose:
		return "close"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Token is one item of the stream. It is owned by the Scanner and valid only
// until the next call to Next or Reset; copy what must outlive that.
type Token struct {
	Kind Kind
	// Raw is the exact bytes of the token as received.
	Raw []byte
	// Start is the parsed start tag (header and element tokens).
	Start Start
	// Children indexes the direct child elements of an element token,
	// in document order.
	Children []Child
}

// Start is a parsed start tag. All slices point into the scanner's buffers.
type Start struct {
	Prefix []byte // namespace prefix as written ("" if none)
	Local  []byte // local name
	Space  []byte // resolved namespace name (Namespaces in XML 1.0 §6); empty if none
	Attrs  []Attr // in document order, namespace declarations included
}

// Attr is an attribute of a start tag. Namespace declarations appear as
// attributes too: xmlns='...' has Local "xmlns", xmlns:p='...' has Prefix
// "xmlns"; both have Space NSXMLNS.
type Attr struct {
	Prefix []byte // prefix as written ("" if none)
	Local  []byte // local name
	Space  []byte // resolved namespace; empty for unprefixed attributes (Namespaces in XML 1.0 §6.2)
	Value  []byte // raw value between the quotes, still escaped (see Unescape)
}

// Attr returns the raw (escaped) value of the unprefixed attribute named
// local, such as "to", "from", "id" or "type" (RFC 6120 §8.1). It does not
// allocate.
func (s *Start) Attr(local string) ([]byte, bool) {
	for i := range s.Attrs {
		a := &s.Attrs[i]
		if len(a.Prefix) == 0 && string(a.Local) == local {
			return a.Value, true
		}
	}
	return nil, false
}

// AttrNS returns the raw (escaped) value of the attribute local in namespace
// space, whatever prefix it was written with; for example
// AttrNS(NSXML, "lang") finds xml:lang (RFC 6120 §4.7.4). It does not
// allocate.
func (s *Start) AttrNS(space, local string) ([]byte, bool) {
	for i := range s.Attrs {
		a := &s.Attrs[i]
		if string(a.Local) == local && string(a.Space) == space {
			return a.Value, true
		}
	}
	return nil, false
}

// Child locates a direct child element inside Token.Raw: Raw[Off:End] is the
// child element, start tag to end tag.
type Child struct {
	Space []byte // resolved namespace
	Local []byte // local name
	Off   int
	End   int
}

// Error is malformed or forbidden input. Condition is the RFC 6120 §4.9.3
// stream error condition to close the stream with, Offset the byte offset in
// the stream (since New or Reset) where the problem was found.
type Error struct {
	Condition string
	Offset    int64
	Reason    string
}

// Stream error conditions the scanner reports (RFC 6120 §4.9.3).
const (
	CondBadFormat           = "bad-format"
	CondNotWellFormed       = "not-well-formed"
	CondPolicyViolation     = "policy-violation"
	CondRestrictedXML       = "restricted-xml"
	CondUnsupportedEncoding = "unsupported-encoding"
)

// Error returns "xmlscan: <condition> at offset N: reason".
func (e *Error) Error() string {
	return "xmlscan: " + e.Condition + " at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Reason
}
