package harness

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Namespaces of XEP-0114 streams.
const (
	nsComponent = "jabber:component:accept"
	nsStreams   = "http://etherx.jabber.org/streams"
)

// elemReader splits an XMPP stream into its top-level pieces without an XML
// parser: the stream header (start tag only), whole elements, and the
// closing tag. It understands just enough XML for the harness's own traffic
// and for what the components under test write (attribute values in either
// quote, an XML declaration, whitespace between elements, no nesting of an
// element in one of the same name). It is the harness's "no parser" reader:
// the raw component and the fake server use it so that their own cost stays
// far below that of the libraries under test.
type elemReader struct {
	r    io.Reader
	buf  []byte
	head int // start of unread bytes
	tail int // end of buffered bytes
}

func newElemReader(r io.Reader) *elemReader { return newElemReaderSize(r, 64<<10) }

func newElemReaderSize(r io.Reader, size int) *elemReader {
	return &elemReader{r: r, buf: make([]byte, size)}
}

// buffered reports whether unread bytes are buffered (a next call may not
// need to block).
func (e *elemReader) buffered() bool { return e.tail > e.head }

// fill reads more bytes, growing the buffer when it is full.
func (e *elemReader) fill() error {
	if e.head > 0 {
		n := copy(e.buf, e.buf[e.head:e.tail])
		e.head, e.tail = 0, n
	}
	if e.tail == len(e.buf) {
		if len(e.buf) >= 16<<20 {
			return errors.New("harness: element larger than 16 MiB")
		}
		nb := make([]byte, 2*len(e.buf))
		copy(nb, e.buf[:e.tail])
		e.buf = nb
	}
	n, err := e.r.Read(e.buf[e.tail:])
	e.tail += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Kinds of pieces next returns.
const (
	pieceHeader  = iota // <stream:stream ...>
	pieceElement        // a whole top-level element
	pieceClose          // </stream:stream>
)

// next returns the next piece of the stream, skipping whitespace and XML
// declarations. The slice is valid until the next call.
func (e *elemReader) next() (kind int, raw []byte, err error) {
	for {
		b := e.buf[e.head:e.tail]
		i := 0
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
			i++
		}
		e.head += i
		b = b[i:]
		if len(b) > 0 && b[0] != '<' {
			return 0, nil, fmt.Errorf("harness: text between elements: %q", clip(b))
		}
		if k, n, ok := scanPiece(b); ok {
			e.head += n
			return k, b[:n], nil
		} else if n < 0 {
			return 0, nil, fmt.Errorf("harness: cannot read %q", clip(b))
		}
		if err := e.fill(); err != nil {
			if err == io.EOF && e.tail > e.head {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
	}
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// scanPiece finds the first piece in b. ok is false when b holds only part
// of it (n is then -1 for something it cannot read, 0 to ask for more). A
// declaration is consumed as a piece of kind -1 handled by the caller's
// loop: it is returned as ok with kind pieceElement never; instead it is
// skipped here by recursion.
func scanPiece(b []byte) (kind, n int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	switch {
	case b[1] == '?':
		end := bytes.Index(b, []byte("?>"))
		if end < 0 {
			return 0, 0, false
		}
		k, m, ok := scanPiece(trimLeftSpace(b[end+2:]))
		if !ok {
			return 0, 0, false
		}
		skip := len(b[end+2:]) - len(trimLeftSpace(b[end+2:]))
		return k, end + 2 + skip + m, true // the declaration is returned with the header
	case b[1] == '/':
		end := bytes.IndexByte(b, '>')
		if end < 0 {
			return 0, 0, false
		}
		return pieceClose, end + 1, true
	}
	end := tagEnd(b)
	if end < 0 {
		return 0, 0, false
	}
	name := tagName(b)
	if bytes.HasSuffix(name, []byte(":stream")) || bytes.Equal(name, []byte("stream")) {
		return pieceHeader, end + 1, true
	}
	if b[end-1] == '/' {
		return pieceElement, end + 1, true
	}
	// Find </name>.
	p := end + 1
	for {
		i := bytes.Index(b[p:], []byte("</"))
		if i < 0 {
			return 0, 0, false
		}
		p += i + 2
		if len(b) < p+len(name)+1 {
			return 0, 0, false
		}
		if bytes.Equal(b[p:p+len(name)], name) {
			q := p + len(name)
			for q < len(b) && b[q] == ' ' {
				q++
			}
			if q >= len(b) {
				return 0, 0, false
			}
			if b[q] == '>' {
				return pieceElement, q + 1, true
			}
		}
	}
}

func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// tagEnd returns the index of the '>' ending the start tag at b[0], or -1.
func tagEnd(b []byte) int {
	var q byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case c == '>':
			return i
		}
	}
	return -1
}

// tagName returns the qualified name of the start tag at b[0].
func tagName(b []byte) []byte {
	i := 1
	for i < len(b) && b[i] != ' ' && b[i] != '>' && b[i] != '/' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
		i++
	}
	return b[1:i]
}

// attr returns the raw value of the attribute name in the start tag at
// b[0] (the start tag ends at the first unquoted '>').
func attr(b []byte, name string) ([]byte, bool) {
	var v []byte
	found := false
	eachAttr(b, func(n, val []byte) bool {
		if string(n) == name {
			v, found = val, true
			return false
		}
		return true
	})
	return v, found
}

// eachAttr calls f with each attribute name and raw value of the start tag
// at b[0] until f returns false. It returns the index of the '>' or '/'
// that ends the attributes, or -1 when the tag is malformed.
func eachAttr(b []byte, f func(name, value []byte) bool) int {
	i := 1 + len(tagName(b))
	for i < len(b) {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
			i++
		}
		if i >= len(b) {
			return -1
		}
		if b[i] == '/' || b[i] == '>' {
			return i
		}
		ns := i
		for i < len(b) && b[i] != '=' && b[i] != ' ' && b[i] != '>' {
			i++
		}
		n := b[ns:i]
		for i < len(b) && (b[i] == '=' || b[i] == ' ') {
			i++
		}
		if i >= len(b) || (b[i] != '\'' && b[i] != '"') {
			return -1
		}
		q := b[i]
		vs := i + 1
		ve := bytes.IndexByte(b[vs:], q)
		if ve < 0 {
			return -1
		}
		if !f(n, b[vs:vs+ve]) {
			return vs + ve
		}
		i = vs + ve + 1
	}
	return -1
}

// innerText returns the bytes between the start and end tags of the first
// child element named local inside the element el.
func innerText(el []byte, local string) ([]byte, bool) {
	end := tagEnd(el)
	if end < 0 {
		return nil, false
	}
	body := el[end+1:]
	for {
		i := bytes.IndexByte(body, '<')
		if i < 0 || i+1 >= len(body) || body[i+1] == '/' {
			return nil, false
		}
		c := body[i:]
		name := tagName(c)
		te := tagEnd(c)
		if te < 0 {
			return nil, false
		}
		if string(name) == local {
			if c[te-1] == '/' {
				return nil, true
			}
			close := bytes.Index(c[te+1:], []byte("</"+local))
			if close < 0 {
				return nil, false
			}
			return c[te+1 : te+1+close], true
		}
		// skip this child
		k, n, ok := scanPiece(c)
		if !ok || k != pieceElement {
			return nil, false
		}
		body = c[n:]
	}
}

// handshakeDigest is the XEP-0114 §3 handshake value: hex SHA-1 of the
// stream id followed by the secret.
func handshakeDigest(id, secret string) string {
	h := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(h[:])
}

// acceptHandshake runs the server side of XEP-0114 §3 on conn: read the
// component's header, answer with a header carrying id, read <handshake/>
// and, whatever secret it proves, answer with an empty <handshake/>. It
// returns the domain the component asked for.
func acceptHandshake(conn net.Conn, rd *elemReader, id string) (string, error) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	k, raw, err := rd.next()
	if err != nil {
		return "", fmt.Errorf("harness: reading component header: %w", err)
	}
	if k != pieceHeader {
		return "", fmt.Errorf("harness: expected a stream header, got %q", clip(raw))
	}
	raw = raw[bytes.LastIndex(raw, []byte("<")):]
	to, _ := attr(raw, "to")
	domain := string(to)
	hdr := "<?xml version='1.0'?><stream:stream xmlns='" + nsComponent + "' xmlns:stream='" + nsStreams +
		"' from='" + domain + "' id='" + id + "'>"
	if _, err := io.WriteString(conn, hdr); err != nil {
		return "", err
	}
	k, raw, err = rd.next()
	if err != nil {
		return "", fmt.Errorf("harness: reading handshake: %w", err)
	}
	if k != pieceElement || string(tagName(raw)) != "handshake" {
		return "", fmt.Errorf("harness: expected <handshake/>, got %q", clip(raw))
	}
	if _, err := io.WriteString(conn, "<handshake/>"); err != nil {
		return "", err
	}
	return domain, nil
}

// dialHandshake runs the component side of XEP-0114 §3 on conn for domain
// and secret.
func dialHandshake(conn net.Conn, rd *elemReader, domain, secret string) error {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	hdr := "<stream:stream xmlns='" + nsComponent + "' xmlns:stream='" + nsStreams + "' to='" + domain + "'>"
	if _, err := io.WriteString(conn, hdr); err != nil {
		return err
	}
	k, raw, err := rd.next()
	if err != nil {
		return fmt.Errorf("harness: reading server header: %w", err)
	}
	if k != pieceHeader {
		return fmt.Errorf("harness: expected a stream header, got %q", clip(raw))
	}
	raw = raw[bytes.LastIndex(raw, []byte("<")):]
	id, ok := attr(raw, "id")
	if !ok {
		return errors.New("harness: server header without id")
	}
	if _, err := io.WriteString(conn, "<handshake>"+handshakeDigest(string(id), secret)+"</handshake>"); err != nil {
		return err
	}
	k, raw, err = rd.next()
	if err != nil {
		return fmt.Errorf("harness: reading handshake answer: %w", err)
	}
	if k != pieceElement || string(tagName(raw)) != "handshake" {
		return fmt.Errorf("harness: handshake refused: %q", clip(raw))
	}
	return nil
}
