package client

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net"

	"mellium.im/sasl"

	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/stream"
)

// mechanisms maps the supported SASL mechanism names to mellium's
// implementations.
var mechanisms = map[string]sasl.Mechanism{
	ScramSHA256: sasl.ScramSha256,
	ScramSHA1:   sasl.ScramSha1,
	Plain:       sasl.Plain,
}

// authenticate runs the SASL exchange of RFC 6120 §6.4 with the best usable
// mechanism among offered.
func (c *Client) authenticate(offered []string) error {
	allowPlain := c.cfg.AllowPlainWithoutTLS && isLocal(c.conn.RemoteAddr())
	name, err := chooseMechanism(c.cfg.Mechanisms, offered, c.tlsConn != nil, allowPlain)
	if err != nil {
		return err
	}
	c.mech = name
	creds := func() ([]byte, []byte, []byte) {
		return []byte(c.cfg.JID.Local()), []byte(c.cfg.Password), nil
	}
	neg := sasl.NewClient(mechanisms[name], sasl.Credentials(creds), sasl.RemoteMechanisms(offered...))
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
	if s := n.child(nsSession, "session"); s != nil {
		f.session = true
		f.sessionOptional = s.child(nsSession, "optional") != nil
	}
	return f, nil
}

const nsSession = "urn:ietf:params:xml:ns:xmpp-session"

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

func escapeText(s string) string { return string(xmlscan.AppendEscapedText(nil, s)) }

// isLocal reports whether a connects to this machine: a loopback TCP
// address, or a transport without IP (net.Pipe, a Unix socket), where
// Config.AllowPlainWithoutTLS may apply.
func isLocal(a net.Addr) bool {
	if a == nil {
		return true
	}
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UDPAddr, *net.IPAddr:
		return false
	}
	return true
}
