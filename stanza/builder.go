package stanza

import (
	"slices"
	"strings"
	"unsafe"

	"xmppkit.dev/internal/xmlscan"
)

// Builder writes one XML element for a payload through escaping calls only:
// attribute values and text are escaped as they are written (XML 1.0 §2.4,
// §3.1) and names are checked, so user text can never turn into markup.
// Build it with [NewBuilder], add attributes, text and children, and end
// with [Builder.Element]:
//
//	el := stanza.NewBuilder("jabber:iq:version", "query").
//		TextElement("name", name).
//		TextElement("version", v).
//		Element()
//
// Child opens a nested element, End closes it. An element inherits the
// namespace of its parent; a child in another namespace gets its own xmlns.
// Element names and attribute names come from code, not from input: they
// must be NCNames (attribute names may also be xml:lang and the like), and an
// invalid or repeated name panics (as a handler panic, it becomes internal-server-error),
// so pass user data only as attribute values, text, or whole elements
// checked by [ParseElement].
//
// The zero Builder is not usable; a Builder is not safe for concurrent use.
type Builder struct {
	buf    []byte
	stack  []frame
	inTag  bool     // the innermost start tag is not yet closed with '>'
	attrs  []string // attribute names of the open start tag
	space  string
	local  string
	closed bool
	// inline storage, so that a typical element costs the Builder, its
	// buffer and the result
	stackBuf [4]frame
	attrBuf  [4]string
}

type frame struct {
	local string
	space string // effective namespace of the element
	empty bool   // no content written yet
}

// NewBuilder starts an element local in namespace space ("" for the content
// namespace of the stream, jabber:client or jabber:component:accept, as for
// <body/>).
func NewBuilder(space, local string) *Builder {
	return NewBuilderSize(space, local, 128)
}

// NewBuilderSize is NewBuilder with room for size bytes of markup, so that
// a caller who knows about how large the element will be (a wrapper around
// a stored element, say) has it written in one allocation.
func NewBuilderSize(space, local string, size int) *Builder {
	b := &Builder{space: space, local: local}
	b.stack, b.attrs = b.stackBuf[:0], b.attrBuf[:0]
	b.buf = make([]byte, 0, max(size, 16))
	b.open(space, local, "")
	return b
}

// checkName panics unless name is an NCName (XML Namespaces §3: a Name
// without a colon); an attribute may also be xml:NCName (xml:lang). The
// Builder writes namespace declarations itself, so xmlns is no name to
// give.
func checkName(what, name string) {
	n := name
	if what == "attribute" {
		n = strings.TrimPrefix(name, "xml:")
	}
	if !xmlscan.ValidName(n) || strings.IndexByte(n, ':') >= 0 || (what == "attribute" && n == "xmlns") {
		panic("stanza: invalid XML " + what + " name " + quoteName(name))
	}
}

func quoteName(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return "\"" + s + "\""
}

// open writes a start tag (left open for attributes).
func (b *Builder) open(space, local, parent string) {
	checkName("element", local)
	b.closeTag()
	if n := len(b.stack); n > 0 {
		b.stack[n-1].empty = false
	}
	b.buf = append(b.buf, '<')
	b.buf = append(b.buf, local...)
	if space != parent {
		b.buf = append(b.buf, " xmlns='"...)
		b.buf = xmlscan.AppendEscapedAttr(b.buf, space)
		b.buf = append(b.buf, '\'')
	}
	b.stack = append(b.stack, frame{local: local, space: space, empty: true})
	b.inTag = true
	b.attrs = b.attrs[:0]
}

// closeTag ends the innermost start tag with '>' if it is still open.
func (b *Builder) closeTag() {
	if b.inTag {
		b.buf = append(b.buf, '>')
		b.inTag = false
	}
}

func (b *Builder) check(op string) {
	if b.closed || len(b.stack) == 0 {
		panic("stanza: Builder." + op + " after Element")
	}
}

// Attr adds an attribute to the innermost open element; value is escaped.
// It must come before that element's text and children (it panics
// otherwise, as for an invalid name). An empty value is written as name=”.
func (b *Builder) Attr(name, value string) *Builder {
	b.check("Attr")
	checkName("attribute", name)
	if !b.inTag {
		panic("stanza: Builder.Attr " + quoteName(name) + " after the element's content")
	}
	if slices.Contains(b.attrs, name) {
		panic("stanza: Builder.Attr " + quoteName(name) + " twice on one element")
	}
	b.attrs = append(b.attrs, name)
	b.buf = append(b.buf, ' ')
	b.buf = append(b.buf, name...)
	b.buf = append(b.buf, "='"...)
	b.buf = xmlscan.AppendEscapedAttr(b.buf, value)
	b.buf = append(b.buf, '\'')
	return b
}

// OptAttr is Attr when value is not "", and does nothing otherwise (for
// optional attributes such as node or name).
func (b *Builder) OptAttr(name, value string) *Builder {
	if value == "" {
		b.check("OptAttr")
		return b
	}
	return b.Attr(name, value)
}

// Text appends escaped character data to the innermost open element.
func (b *Builder) Text(s string) *Builder {
	b.check("Text")
	if s == "" {
		return b
	}
	b.closeTag()
	b.stack[len(b.stack)-1].empty = false
	b.buf = xmlscan.AppendEscapedText(b.buf, s)
	return b
}

// Child opens a child element of the innermost open element; "" as space
// means the parent's namespace. Close it with End.
func (b *Builder) Child(space, local string) *Builder {
	b.check("Child")
	parent := b.stack[len(b.stack)-1].space
	if space == "" {
		space = parent
	}
	b.open(space, local, parent)
	return b
}

// TextElement adds the child <local>text</local> in the parent's namespace,
// the text escaped; with text "" it is the empty element <local/>.
func (b *Builder) TextElement(local, text string) *Builder {
	return b.Child("", local).Text(text).End()
}

// OptTextElement is TextElement when text is not "", and does nothing
// otherwise.
func (b *Builder) OptTextElement(local, text string) *Builder {
	if text == "" {
		b.check("OptTextElement")
		return b
	}
	return b.TextElement(local, text)
}

// Append adds complete elements as children of the innermost open element,
// as they are (they are well-formed: an Element comes from a decoded stanza,
// ParseElement or a Builder). An element without its own xmlns written
// inherits the namespace of the element it is put in.
func (b *Builder) Append(elems ...Element) *Builder {
	b.check("Append")
	for _, e := range elems {
		if e.xml == "" && e.Local == "" {
			continue
		}
		b.closeTag()
		b.stack[len(b.stack)-1].empty = false
		b.buf = slices.Grow(b.buf, len(e.xml)+len(b.stack)*16) // one growth for a large element and the end tags
		b.buf = e.appendXML(b.buf)
	}
	return b
}

// End closes the innermost open element. Ending the outermost element is
// what Element does; End on it panics.
func (b *Builder) End() *Builder {
	b.check("End")
	if len(b.stack) == 1 {
		panic("stanza: Builder.End on the outermost element (use Element)")
	}
	b.end()
	return b
}

func (b *Builder) end() {
	f := b.stack[len(b.stack)-1]
	b.stack = b.stack[:len(b.stack)-1]
	if b.inTag && f.empty {
		b.buf = append(b.buf, "/>"...)
		b.inTag = false
		return
	}
	b.closeTag()
	b.buf = append(b.buf, "</"...)
	b.buf = append(b.buf, f.local...)
	b.buf = append(b.buf, '>')
}

// Element closes every open element and returns the result. The Builder
// cannot be used afterwards.
func (b *Builder) Element() Element {
	b.check("Element")
	for len(b.stack) > 0 {
		b.end()
	}
	b.closed = true
	// The Builder is done with its buffer: the element's string is the
	// buffer itself, not a copy.
	xml := unsafe.String(unsafe.SliceData(b.buf), len(b.buf))
	b.buf = nil
	return Element{Space: b.space, Local: b.local, xml: xml}
}

// TextElement returns the element <local xmlns='space'>text</local>, the
// text escaped; space "" is the stream's content namespace (as for <body/>,
// <subject/>, <status/>).
func TextElement(space, local, text string) Element {
	return NewBuilder(space, local).Text(text).Element()
}
