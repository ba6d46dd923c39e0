package component_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// testClient is a minimal RFC 6120 client for the integration tests: plain
// TCP (both servers allow it on loopback), SASL SCRAM-SHA-1 with
// mellium.im/sasl, resource binding. It answers jabber:iq:version gets and
// queues every other stanza on In.
type testClient struct {
	t    testing.TB
	conn net.Conn
	rd   *stream.Reader
	JID  jid.JID
	In   chan *stanza.Stanza
	wmu  sync.Mutex
	done chan struct{}
}

const nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"

func loginClient(t testing.TB, addr, domain, user, pass, resource string) *testClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{t: t, conn: conn, In: make(chan *stanza.Stanza, 1024), done: make(chan struct{})}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.negotiate(domain, user, pass, resource); err != nil {
		conn.Close()
		t.Fatalf("client login as %s@%s: %v", user, domain, err)
	}
	_ = conn.SetDeadline(time.Time{})
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

func (c *testClient) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := io.WriteString(c.conn, s)
	return err
}

// open sends a stream header and returns the raw <stream:features/>.
func (c *testClient) open(domain string) ([]byte, error) {
	h := stream.Header{NS: stream.NSClient, To: domain, Version: "1.0"}
	if err := c.write(string(h.AppendXML(nil))); err != nil {
		return nil, err
	}
	c.rd = stream.NewReader(c.conn, stream.ReaderOptions{})
	if _, err := c.rd.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := c.rd.Next()
	if err != nil {
		return nil, err
	}
	if !el.Is(stream.NSStream, "features") {
		return nil, fmt.Errorf("expected stream features, got %s", el.Raw())
	}
	return bytes.Clone(el.Raw()), nil
}

func (c *testClient) negotiate(domain, user, pass, resource string) error {
	if _, err := c.open(domain); err != nil {
		return err
	}
	neg := sasl.NewClient(sasl.ScramSha1, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(pass), nil
	}))
	_, resp, err := neg.Step(nil)
	if err != nil {
		return err
	}
	if err := c.write("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-1'>" + base64.StdEncoding.EncodeToString(resp) + "</auth>"); err != nil {
		return err
	}
	for done := false; !done; {
		el, err := c.rd.Next()
		if err != nil {
			return err
		}
		txt, _ := el.Text()
		data, err := base64.StdEncoding.DecodeString(txt)
		if err != nil {
			return err
		}
		switch {
		case el.Is(nsSASL, "challenge"):
			_, resp, err := neg.Step(data)
			if err != nil {
				return err
			}
			if err := c.write("<response xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>"); err != nil {
				return err
			}
		case el.Is(nsSASL, "success"):
			if _, _, err := neg.Step(data); err != nil {
				return fmt.Errorf("server signature: %w", err)
			}
			done = true
		default:
			return fmt.Errorf("sasl: %s", el.Raw())
		}
	}
	features, err := c.open(domain)
	if err != nil {
		return err
	}
	if err := c.write("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>"); err != nil {
		return err
	}
	st, err := c.rd.ReadStanza()
	if err != nil {
		return err
	}
	var b struct {
		JID string `xml:"jid"`
	}
	if err := st.UnmarshalChild("urn:ietf:params:xml:ns:xmpp-bind", "bind", &b); err != nil {
		return fmt.Errorf("bind: %v (%s)", err, st)
	}
	if c.JID, err = jid.Parse(b.JID); err != nil {
		return err
	}
	// RFC 3921 session establishment, for servers that still require it.
	if bytes.Contains(features, []byte("urn:ietf:params:xml:ns:xmpp-session")) && !bytes.Contains(features, []byte("<optional")) {
		if err := c.write("<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"); err != nil {
			return err
		}
		if _, err := c.rd.ReadStanza(); err != nil {
			return err
		}
	}
	return c.write("<presence/>")
}

func (c *testClient) readLoop() {
	defer close(c.done)
	for {
		st, err := c.rd.ReadStanza()
		if err != nil {
			return
		}
		if st.Kind == stanza.IQ && st.Type == stanza.TypeGet {
			if _, ok := st.Child("jabber:iq:version", "query"); ok {
				r := st.Result(mustElement(c.t, "<query xmlns='jabber:iq:version'><name>xmppkit-testclient</name><version>1</version></query>"))
				r.From = jid.JID{} // the server stamps it
				c.write(r.String())
				continue
			}
		}
		select {
		case c.In <- st:
		default:
			c.t.Errorf("test client %s: inbox full", c.JID)
		}
	}
}

func mustElement(t testing.TB, raw string) stanza.Element {
	e, err := stanza.ParseElement(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// recv waits for the next stanza matching ok.
func (c *testClient) recv(timeout time.Duration, ok func(*stanza.Stanza) bool) (*stanza.Stanza, error) {
	deadline := time.After(timeout)
	for {
		select {
		case st := <-c.In:
			if ok(st) {
				return st, nil
			}
		case <-deadline:
			return nil, errors.New("timeout")
		case <-c.done:
			return nil, errors.New("client stream ended")
		}
	}
}

func (c *testClient) close() {
	c.write(stream.CloseTag)
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	c.conn.Close()
	<-c.done
}
