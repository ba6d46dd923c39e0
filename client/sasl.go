package client

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net"
	"slices"

	"mellium.im/sasl"

	"xmppkit.dev/dial"
	"xmppkit.dev/stream"
)

// mechanisms maps the supported SASL mechanism names to mellium's
// implementations.
var mechanisms = map[string]sasl.Mechanism{
	ScramSHA256Plus: sasl.ScramSha256Plus,
	ScramSHA1Plus:   sasl.ScramSha1Plus,
	ScramSHA256:     sasl.ScramSha256,
	ScramSHA1:       sasl.ScramSha1,
	Plain:           sasl.Plain,
}

// Channel binding types (RFC 9266, RFC 5929).
const (
	bindingExporter = "tls-exporter"
	bindingUnique   = "tls-unique"
)

// binding returns the channel binding type mellium's -PLUS mechanisms use
// on the stream's TLS connection: tls-exporter on TLS 1.3, tls-unique on
// TLS 1.2; "" without TLS.
func (c *Client) binding() string {
	st, ok := c.TLSState()
	switch {
	case !ok:
		return ""
	case st.Version >= tls.VersionTLS13:
		return bindingExporter
	case len(st.TLSUnique) > 0:
		return bindingUnique
	}
	return ""
}

// usableBinding returns the binding type the -PLUS mechanisms may use with
// the server of f, or "": the server must list it (XEP-0440), or, without
// a list, the stream be on TLS 1.2 (on TLS 1.3 a server's -PLUS without
// the list may mean tls-unique, undefined there).
func (c *Client) usableBinding(f features) string {
	b := c.binding()
	switch {
	case b == "":
		return ""
	case f.channelBindings != nil:
		if slices.Contains(f.channelBindings, b) {
			return b
		}
		return ""
	case b == bindingUnique:
		return b
	}
	return ""
}

// authenticate runs the SASL exchange of RFC 6120 §6.4 with the best usable
// mechanism among those f offers.
func (c *Client) authenticate(f features) error {
	offered := f.mechanisms
	allowPlain := c.cfg.AllowPlainWithoutTLS && isLocal(c.conn.RemoteAddr())
	binding := c.usableBinding(f)
	want := c.cfg.Mechanisms
	if c.cfg.RequireChannelBinding {
		if len(want) == 0 {
			want = DefaultMechanisms
		}
		want = slices.DeleteFunc(slices.Clone(want), func(m string) bool { return !isPlus(m) })
	}
	name, err := chooseMechanism(want, offered, c.tlsConn != nil, allowPlain, binding)
	if err != nil {
		return err
	}
	c.mech = name
	creds := func() ([]byte, []byte, []byte) {
		return []byte(c.cfg.JID.Local()), []byte(c.cfg.Password), nil
	}
	mech := mechanisms[name]
	opts := []sasl.Option{sasl.Credentials(creds), sasl.RemoteMechanisms(offered...)}
	if st, ok := c.TLSState(); ok {
		opts = append(opts, sasl.TLSState(st))
		// Over TLS with no -PLUS offered at all, SCRAM says "y" (the client
		// binds, the server seems not to): mellium's -PLUS mechanism does
		// that when the server does not list it, under the plain name.
		if !slices.ContainsFunc(offered, isPlus) {
			switch name {
			case ScramSHA256:
				mech = sasl.ScramSha256Plus
			case ScramSHA1:
				mech = sasl.ScramSha1Plus
			}
		}
	}
	neg := sasl.NewClient(mech, opts...)
	more, resp, err := neg.Step(nil)
	if err != nil {
		return &SASLError{Condition: CondAborted, Text: err.Error(), Mechanism: name, Local: true}
	}
	if err := c.w.WriteRaw(saslElement("auth", " mechanism='"+name+"'", resp)); err != nil {
		return err
	}
	// verified is true once the mechanism has checked the server's last
	// message (SCRAM's server signature, RFC 5802 §3); PLAIN has none.
	verified := name == Plain
	step := func(data []byte) error {
		if !more {
			return &SASLError{Condition: CondMalformedRequest, Text: "server sent more data than the mechanism expects", Mechanism: name, Local: true}
		}
		more, resp, err = neg.Step(data)
		if err != nil {
			return &SASLError{Condition: CondNotAuthorized, Text: "server's SASL data rejected: " + err.Error(), Mechanism: name, Local: true}
		}
		if !more {
			verified = true
		}
		return nil
	}
	for {
		el, err := c.r.Next()
		if err != nil {
			return c.fail(err)
		}
		switch {
		case el.Is(stream.NSSASL, "challenge"):
			data, err := saslData(el)
			if err != nil {
				return err
			}
			if err := step(data); err != nil {
				c.w.WriteRaw([]byte("<abort xmlns='" + stream.NSSASL + "'/>"))
				return err
			}
			if err := c.w.WriteRaw(saslElement("response", "", resp)); err != nil {
				return err
			}
		case el.Is(stream.NSSASL, "success"):
			data, err := saslData(el)
			if err != nil {
				return err
			}
			if len(data) > 0 && !verified {
				if err := step(data); err != nil {
					return err
				}
			}
			if !verified {
				return &SASLError{Condition: CondNotAuthorized, Text: "server reported success without proving it knows the password", Mechanism: name, Local: true}
			}
			return nil
		case el.Is(stream.NSSASL, "failure"):
			e := parseFailure(el.Raw())
			e.Mechanism = name
			return e
		default:
			return c.unexpected(el, "a SASL challenge, success or failure")
		}
	}
}

// saslElement returns <name xmlns=sasl attrs>base64(data)</name>, with "="
// for empty data (RFC 6120 §6.4.2).
func saslElement(name, attrs string, data []byte) []byte {
	b := []byte("<" + name + " xmlns='" + stream.NSSASL + "'" + attrs + ">")
	if len(data) == 0 {
		b = append(b, '=')
	} else {
		b = base64.StdEncoding.AppendEncode(b, data)
	}
	return append(b, "</"+name+">"...)
}

// saslData decodes the base64 text of a challenge or success ("=" or
// nothing means empty, RFC 6120 §6.4.3, §6.4.6).
func saslData(el *stream.Element) ([]byte, error) {
	text, err := el.Text()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadServer, err)
	}
	if text == "" || text == "=" {
		return nil, nil
	}
	data, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, &SASLError{Condition: CondIncorrectEncoding, Text: "server sent bad base64", Local: true}
	}
	return data, nil
}

// node is a generic XML element for the few stream-level elements the
// client reads (features, SASL failure).
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n *node) child(space, local string) *node {
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Space == space && n.Nodes[i].XMLName.Local == local {
			return &n.Nodes[i]
		}
	}
	return nil
}

// parseNode decodes a stream-level element; the stream prefix is declared
// around it because it was declared on the stream header.
func parseNode(raw []byte) (node, error) {
	wrapped := make([]byte, 0, len(raw)+80)
	wrapped = append(wrapped, "<w xmlns:stream='"+stream.NSStream+"'>"...)
	wrapped = append(wrapped, raw...)
	wrapped = append(wrapped, "</w>"...)
	var w struct {
		Nodes []node `xml:",any"`
	}
	if err := xml.Unmarshal(wrapped, &w); err != nil {
		return node{}, err
	}
	if len(w.Nodes) != 1 {
		return node{}, fmt.Errorf("want one element, got %d", len(w.Nodes))
	}
	return w.Nodes[0], nil
}

// parseFeatures reads <stream:features/> (RFC 6120 §4.3.2).
func parseFeatures(raw []byte) (features, error) {
	n, err := parseNode(raw)
	if err != nil {
		return features{}, fmt.Errorf("%w: stream features: %v", ErrBadServer, err)
	}
	var f features
	if tls := n.child(stream.NSTLS, "starttls"); tls != nil {
		f.startTLS = true
		f.startTLSRequired = tls.child(stream.NSTLS, "required") != nil
	}
	if ms := n.child(stream.NSSASL, "mechanisms"); ms != nil {
		for _, m := range ms.Nodes {
			if m.XMLName.Space == stream.NSSASL && m.XMLName.Local == "mechanism" {
				f.mechanisms = append(f.mechanisms, m.Text)
			}
		}
	}
	f.bind = n.child(stream.NSBind, "bind") != nil
	if cb := n.child(nsSASLCB, "sasl-channel-binding"); cb != nil {
		f.channelBindings = []string{}
		for _, b := range cb.Nodes {
			if b.XMLName.Space == nsSASLCB && b.XMLName.Local == "channel-binding" {
				for _, a := range b.Attrs {
					if a.Name.Local == "type" && a.Name.Space == "" {
						f.channelBindings = append(f.channelBindings, a.Value)
					}
				}
			}
		}
	}
	if s := n.child(nsSession, "session"); s != nil {
		f.session = true
		f.sessionOptional = s.child(nsSession, "optional") != nil
	}
	return f, nil
}

const (
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsSASLCB  = "urn:xmpp:sasl-cb:0" // XEP-0440
)

// parseFailure reads a SASL <failure/> (RFC 6120 §6.4.5). A missing or
// unreadable condition is not-authorized, the general failure (§6.5.10).
func parseFailure(raw []byte) *SASLError {
	e := &SASLError{}
	n, err := parseNode(raw)
	if err == nil {
		for _, k := range n.Nodes {
			if k.XMLName.Space != stream.NSSASL {
				continue
			}
			if k.XMLName.Local == "text" {
				e.Text = k.Text
			} else if e.Condition == "" {
				e.Condition = k.XMLName.Local
			}
		}
	}
	if e.Condition == "" {
		e.Condition = CondNotAuthorized
	}
	return e
}

// isLocal reports whether a connects to this machine, where
// Config.AllowPlainWithoutTLS may apply.
func isLocal(a net.Addr) bool { return dial.IsLoopback(a) }
