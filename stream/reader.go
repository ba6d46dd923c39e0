package stream

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"xmppkit.dev/internal/wire"
	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/stanza"
)

// Limits bound what one peer can make a Reader buffer (RFC 6120 §13.12).
// A zero field means the default. Exceeding one is a policy-violation
// stream error.
type Limits struct {
	MaxElement int // bytes of one top-level element; default 512 KiB
	MaxDepth   int // element nesting depth; default 64
	MaxAttrs   int // attributes per start tag; default 64
	MaxHeader  int // bytes of XML declaration plus stream header; default 8 KiB
}

// ReaderOptions configure a Reader. The zero value is ready to use.
type ReaderOptions struct {
	Limits Limits
	// NS, if not "", is the content namespace the peer's header must
	// declare (for instance NSComponent); any other is invalid-namespace.
	NS string
	// Keepalives makes Next return whitespace keepalives (RFC 6120 §4.6.1)
	// as elements with Keepalive true instead of skipping them.
	Keepalives bool
}

// Reader reads an XML stream (RFC 6120 §4) from the peer: the header, then
// top-level elements. It is not safe for concurrent use: one goroutine reads.
type Reader struct {
	sc     *xmlscan.Scanner
	opts   ReaderOptions
	el     Element
	done   chan struct{}
	once   sync.Once
	err    error
	header bool
}

// NewReader returns a Reader for r.
func NewReader(r io.Reader, opts ReaderOptions) *Reader {
	rd := &Reader{opts: opts, done: make(chan struct{})}
	rd.sc = xmlscan.New(r, xmlscan.Options{Limits: xmlscan.Limits(opts.Limits)})
	rd.el.r = rd
	return rd
}

// SetLimits changes the limits for the elements read after the current one:
// a server reads the negotiation of an unauthenticated peer under small
// limits and raises them once the peer has authenticated.
func (r *Reader) SetLimits(l Limits) {
	r.opts.Limits = l
	r.sc.SetLimits(xmlscan.Limits(l))
}

// Reset starts reading a new stream from r (a stream restart after STARTTLS
// or SASL, RFC 6120 §4.3.3). The next call must be ReadHeader.
func (r *Reader) Reset(rd io.Reader) {
	r.sc.Reset(rd)
	r.header = false
	r.err = nil
}

// Closed returns a channel that is closed once the Reader has seen the end of
// the peer's stream: its </stream:stream>, a stream error, end of input, or
// a read error. Writer.Close waits on it.
func (r *Reader) Closed() <-chan struct{} { return r.done }

func (r *Reader) finish(err error) error {
	r.err = err
	r.once.Do(func() { close(r.done) })
	return err
}

// ReadHeader reads the peer's stream header (RFC 6120 §4.7), checking the
// stream namespace (invalid-namespace), the element name (bad-format), the
// content namespace (invalid-namespace) and the version (unsupported-version,
// §4.7.5). A <stream:error/> sent in place of stanzas after a header is read
// by Next.
func (r *Reader) ReadHeader() (Header, error) {
	if r.err != nil {
		return Header{}, r.err
	}
	tok, err := r.sc.Next()
	if err != nil {
		return Header{}, r.finish(r.mapErr(err))
	}
	if tok.Kind != xmlscan.KindHeader {
		return Header{}, r.finish(NewError(BadFormat, fmt.Sprintf("expected a stream header, got %v", tok.Kind)))
	}
	h, err := parseHeader(tok, r.opts.NS)
	if err != nil {
		return h, r.finish(err)
	}
	r.header = true
	return h, nil
}

// Next returns the next top-level element of the stream. The Element and the
// bytes it exposes are valid until the next call to Next, ReadStanza or
// Reset. Next allocates nothing.
//
// At the peer's </stream:stream> Next returns io.EOF. When the peer sends
// <stream:error/>, Next returns it as a *Error with Remote set. Malformed
// input is a *Error with the condition to send back; input that ends without
// </stream:stream> is io.ErrUnexpectedEOF (or the transport's read error).
func (r *Reader) Next() (*Element, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		tok, err := r.sc.Next()
		if err != nil {
			return nil, r.finish(r.mapErr(err))
		}
		switch tok.Kind {
		case xmlscan.KindWhitespace:
			if !r.opts.Keepalives {
				continue
			}
		case xmlscan.KindClose:
			return nil, r.finish(io.EOF)
		case xmlscan.KindHeader:
			return nil, r.finish(NewError(BadFormat, "unexpected stream header"))
		case xmlscan.KindElement:
			if string(tok.Start.Local) == "error" && string(tok.Start.Space) == NSStream {
				return nil, r.finish(parseError(tok))
			}
		}
		r.el.tok = tok
		return &r.el, nil
	}
}

// ReadStanza reads the next element and decodes it as a stanza (see
// Element.Stanza). An element that is not a stanza yields an
// unsupported-stanza-type stream error.
func (r *Reader) ReadStanza() (*stanza.Stanza, error) {
	for {
		el, err := r.Next()
		if err != nil {
			return nil, err
		}
		if el.Keepalive() {
			continue
		}
		return el.Stanza()
	}
}

func (r *Reader) mapErr(err error) error {
	var se *xmlscan.Error
	if errors.As(err, &se) {
		return fromScanError(se)
	}
	if err == io.EOF {
		if !r.header {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return err
}

// Element is a top-level element read from a stream: a stanza, or a
// stream-level element such as <handshake/> (XEP-0114), <stream:features/>
// or a SASL element. It is owned by the Reader and valid until its next read.
type Element struct {
	r   *Reader
	tok *xmlscan.Token
}

// Keepalive reports whether the element is whitespace (only with
// ReaderOptions.Keepalives).
func (e *Element) Keepalive() bool { return e.tok.Kind == xmlscan.KindWhitespace }

// Raw returns the exact bytes of the element as received.
func (e *Element) Raw() []byte { return e.tok.Raw }

// Is reports whether the element has the namespace and local name. It
// allocates nothing. Stanzas are in the stream's content namespace.
func (e *Element) Is(space, local string) bool {
	return string(e.tok.Start.Local) == local && string(e.tok.Start.Space) == space
}

// Name returns the element's namespace and local name.
func (e *Element) Name() (space, local string) {
	return string(e.tok.Start.Space), string(e.tok.Start.Local)
}

// RawName returns the element's name as written: its prefix ("" if none)
// and local name. It allocates nothing; the bytes are valid until the next
// read.
func (e *Element) RawName() (prefix, local []byte) {
	return e.tok.Start.Prefix, e.tok.Start.Local
}

// RawAttr returns the value of the unprefixed attribute local exactly as
// received, between the quotes and still escaped (XML 1.0 §3.3.3: references
// are not expanded). It allocates nothing; the bytes are valid until the
// next read.
func (e *Element) RawAttr(local string) ([]byte, bool) {
	return e.tok.Start.Attr(local)
}

// NumAttr returns the number of attributes of the element's start tag,
// namespace declarations included (see RawAttrAt).
func (e *Element) NumAttr() int { return len(e.tok.Start.Attrs) }

// RawAttrAt returns attribute i (0 <= i < NumAttr) of the start tag, in
// document order: its prefix and local name as written and its value as
// received, still escaped. A namespace declaration xmlns='…' has local name
// "xmlns" and no prefix; xmlns:p='…' has prefix "xmlns". It allocates
// nothing; the bytes are valid until the next read.
func (e *Element) RawAttrAt(i int) (prefix, local, value []byte) {
	a := &e.tok.Start.Attrs[i]
	return a.Prefix, a.Local, a.Value
}

// Attr returns the unescaped value of the unprefixed attribute local.
func (e *Element) Attr(local string) (string, bool) {
	v, ok := e.tok.Start.Attr(local)
	if !ok {
		return "", false
	}
	u, err := xmlscan.Unescape(nil, v)
	if err != nil {
		return "", false
	}
	return string(u), true
}

// Text returns the unescaped character data of a text-only element such as
// <handshake/> (XEP-0114 §3) or a SASL challenge.
func (e *Element) Text() (string, error) {
	if len(e.tok.Children) > 0 {
		return "", fmt.Errorf("stream: <%s/> has child elements, not text", e.tok.Start.Local)
	}
	inner, ok := wire.Inner(e.tok.Raw)
	if !ok {
		return "", nil
	}
	u, err := xmlscan.Unescape(nil, inner)
	if err != nil {
		return "", err
	}
	return string(u), nil
}

// IsStanza reports whether the element is a message, presence or iq in a
// content namespace (RFC 6120 §8).
func (e *Element) IsStanza() bool {
	st := &e.tok.Start
	switch string(st.Local) {
	case "message", "presence", "iq":
		return stanza.IsContentNS(string(st.Space))
	}
	return false
}

// Stanza decodes the element as a stanza with one copy of its bytes (see
// stanza.Decode for the errors). An element that is not a stanza yields an
// unsupported-stanza-type stream error; a stanza that breaks RFC 6120 §8
// yields the *stanza.Error together with the stanza, to answer with
// ErrorReply.
func (e *Element) Stanza() (*stanza.Stanza, error) {
	if e.tok.Kind != xmlscan.KindElement || !e.IsStanza() {
		return nil, NewError(UnsupportedStanzaType, fmt.Sprintf("<%s xmlns='%s'/> is not a stanza", e.tok.Start.Local, e.tok.Start.Space))
	}
	v, err := wire.DecodeStanza(e.tok)
	s, _ := v.(*stanza.Stanza)
	return s, err
}
