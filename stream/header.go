package stream

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"

	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/stanza"
)

// Namespaces of XMPP streams (RFC 6120 §4.8, XEP-0114 §3).
const (
	NSStream       = "http://etherx.jabber.org/streams"    // the stream element (§4.8.1)
	NSStreamErrors = "urn:ietf:params:xml:ns:xmpp-streams" // stream error conditions (§4.9.2)
	NSClient       = stanza.NSClient                       // client content namespace (§4.8.2)
	NSServer       = stanza.NSServer                       // server content namespace (§4.8.2)
	NSComponent    = stanza.NSComponent                    // component content namespace (XEP-0114)
	NSStanzaErrors = stanza.NSStanzas                      // stanza error conditions (§8.3.2)
	NSTLS          = "urn:ietf:params:xml:ns:xmpp-tls"     // STARTTLS (§5.4)
	NSSASL         = "urn:ietf:params:xml:ns:xmpp-sasl"    // SASL (§6.4)
	NSBind         = "urn:ietf:params:xml:ns:xmpp-bind"    // resource binding (§7)
)

// Header is a stream header (RFC 6120 §4.7): the attributes of the
// <stream:stream> start tag. All fields are the attribute values as sent
// (unescaped); "" means absent.
type Header struct {
	NS      string // content namespace: the default namespace (xmlns)
	To      string // §4.7.2
	From    string // §4.7.1
	ID      string // stream id, sent by the receiving entity (§4.7.3)
	Version string // "1.0", or "" for a pre-1.0 stream such as XEP-0114's (§4.7.5)
	Lang    string // xml:lang (§4.7.4)
}

// NewID returns a stream id for the header of a receiving entity (RFC 6120
// §4.7.3 asks for ids that are unique and unpredictable): 128 bits from
// crypto/rand as 26 base32 characters. The XEP-0114 §3 handshake is SHA-1 of
// the id and the shared secret, so an id that repeats or can be guessed from
// earlier ones lets an attacker who recorded one handshake replay it. It
// costs one read of the system's random source.
func NewID() string { return rand.Text() }

// AppendXML appends an XML declaration and the stream header start tag to
// dst, declaring the "stream" prefix. An empty NS is written as
// jabber:client.
func (h Header) AppendXML(dst []byte) []byte {
	ns := h.NS
	if ns == "" {
		ns = NSClient
	}
	dst = append(dst, "<?xml version='1.0'?><stream:stream xmlns='"...)
	dst = xmlscan.AppendEscapedAttr(dst, ns)
	dst = append(dst, "' xmlns:stream='"+NSStream+"'"...)
	dst = appendAttr(dst, "to", h.To)
	dst = appendAttr(dst, "from", h.From)
	dst = appendAttr(dst, "id", h.ID)
	dst = appendAttr(dst, "version", h.Version)
	dst = appendAttr(dst, "xml:lang", h.Lang)
	return append(dst, '>')
}

func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = xmlscan.AppendEscapedAttr(dst, value)
	return append(dst, '\'')
}

// CloseTag is the closing tag of a stream (RFC 6120 §4.4).
const CloseTag = "</stream:stream>"

// parseHeader reads a header token. want, if not "", is the content
// namespace required.
func parseHeader(tok *xmlscan.Token, want string) (Header, error) {
	st := &tok.Start
	if string(st.Local) != "stream" {
		return Header{}, NewError(BadFormat, fmt.Sprintf("stream header is <%s/>, not <stream:stream/>", st.Local))
	}
	if string(st.Space) != NSStream {
		return Header{}, NewError(InvalidNamespace, fmt.Sprintf("stream namespace is %q, not %q", st.Space, NSStream))
	}
	var h Header
	for i := range st.Attrs {
		a := &st.Attrs[i]
		var dst *string
		switch {
		case len(a.Prefix) == 0:
			switch string(a.Local) {
			case "xmlns":
				dst = &h.NS
			case "to":
				dst = &h.To
			case "from":
				dst = &h.From
			case "id":
				dst = &h.ID
			case "version":
				dst = &h.Version
			}
		case string(a.Space) == xmlscan.NSXML && string(a.Local) == "lang":
			dst = &h.Lang
		}
		if dst == nil {
			continue
		}
		v, err := xmlscan.Unescape(nil, a.Value)
		if err != nil {
			return Header{}, NewError(NotWellFormed, "bad attribute value in stream header")
		}
		*dst = string(v)
	}
	if h.NS == "" || !stanza.IsContentNS(h.NS) || want != "" && h.NS != want {
		return h, NewError(InvalidNamespace, fmt.Sprintf("content namespace %q not supported", h.NS))
	}
	if err := checkVersion(h.Version); err != nil {
		return h, err
	}
	return h, nil
}

// checkVersion applies RFC 6120 §4.7.5: no version means a pre-1.0 stream
// (accepted, as is an explicit 0.x), a major version of 1 is supported
// whatever the minor version,
// and anything else is unsupported-version. Leading zeros are ignored.
func checkVersion(v string) error {
	if v == "" {
		return nil
	}
	major, minor, ok := strings.Cut(v, ".")
	maj, err1 := strconv.ParseUint(major, 10, 32)
	_, err2 := strconv.ParseUint(minor, 10, 32)
	if !ok || err1 != nil || err2 != nil || strings.ContainsAny(v, "+-") {
		return NewError(UnsupportedVersion, fmt.Sprintf("malformed version %q", v))
	}
	if maj > 1 {
		return NewError(UnsupportedVersion, fmt.Sprintf("version %q not supported", v))
	}
	return nil
}
