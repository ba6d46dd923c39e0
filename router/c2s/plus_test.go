package c2s

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	xclient "xmppkit.dev/client"
	"xmppkit.dev/jid"
	"xmppkit.dev/router"
	"xmppkit.dev/stream"
)

// TestSCRAMPlus (issue 18 item 10): the listener offers SCRAM-SHA-256-PLUS
// and SCRAM-SHA-1-PLUS with tls-exporter on TLS 1.3 (RFC 9266) and
// tls-unique on TLS 1.2 (RFC 5929), announced with XEP-0440, and the
// public client package logs in with them by default.
func TestSCRAMPlus(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{})
	for _, tc := range []struct {
		mech    string
		maxTLS  uint16
		binding string
	}{
		{"", 0, "tls-exporter"},
		{xclient.ScramSHA1Plus, 0, "tls-exporter"},
		{"", tls.VersionTLS12, "tls-unique"},
		{xclient.ScramSHA1Plus, tls.VersionTLS12, "tls-unique"},
	} {
		cfg := xclient.Config{JID: jid.MustParse("alice@localhost"), Password: "alicepw",
			TLS: &tls.Config{RootCAs: l.CertPool(), MaxVersion: tc.maxTLS}, RequireChannelBinding: true}
		if tc.mech != "" {
			cfg.Mechanisms = []string{tc.mech}
		}
		c, err := xclient.Dial(ctxT(t), addr, cfg)
		if err != nil {
			t.Fatalf("%s TLS max %x: %v", tc.mech, tc.maxTLS, err)
		}
		want := tc.mech
		if want == "" {
			want = xclient.ScramSHA256Plus
		}
		if c.Mechanism() != want || c.ChannelBinding() != tc.binding {
			t.Errorf("logged in with %s / %q, want %s / %s", c.Mechanism(), c.ChannelBinding(), want, tc.binding)
		}
		c.Close(ctxT(t))
	}
	// ChannelBindingOff offers no -PLUS: a client that requires binding
	// cannot log in, one that does not uses SCRAM.
	_, l2, addr2 := newC2S(t, router.Config{}, Config{ChannelBinding: ChannelBindingOff})
	_, err := xclient.Dial(ctxT(t), addr2, xclient.Config{JID: jid.MustParse("alice@localhost"), Password: "alicepw",
		TLS: &tls.Config{RootCAs: l2.CertPool()}, RequireChannelBinding: true})
	if !errors.Is(err, xclient.ErrNoMechanism) {
		t.Errorf("binding required, none offered: %v", err)
	}
	c, err := login(t, addr2, l2, "alice@localhost", "alicepw", "", true)
	if err != nil || c.Mechanism() != xclient.ScramSHA256 {
		t.Errorf("without binding: %v %v", c, err)
	}
	// ChannelBindingRequired offers nothing but -PLUS over TLS.
	_, l3, addr3 := newC2S(t, router.Config{}, Config{ChannelBinding: ChannelBindingRequired})
	if _, err := login(t, addr3, l3, "alice@localhost", "alicepw", xclient.Plain, true); !errors.Is(err, xclient.ErrNoMechanism) {
		t.Errorf("PLAIN with binding required: %v", err)
	}
	if c, err := login(t, addr3, l3, "alice@localhost", "alicepw", "", true); err != nil || c.Mechanism() != xclient.ScramSHA256Plus {
		t.Errorf("binding required: %v %v", c, err)
	}
}

// mitm is a man in the middle between a client and the listener who holds
// a certificate the client trusts: it terminates the client's TLS, opens
// its own to the listener, and relays the stream, optionally removing the
// -PLUS mechanisms and XEP-0440 from the listener's features.
type mitm struct {
	addr   string
	pool   *x509.CertPool // what the client must trust
	strip  bool
	target string
	tlsCfg *tls.Config // towards the listener
	wg     sync.WaitGroup
}

func newMITM(t *testing.T, target string, listenerPool *x509.CertPool, strip bool) *mitm {
	t.Helper()
	cert, leaf, err := selfSignedCert([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mitm{addr: ln.Addr().String(), pool: x509.NewCertPool(), strip: strip, target: target,
		tlsCfg: &tls.Config{RootCAs: listenerPool, ServerName: "localhost"}}
	m.pool.AddCert(leaf)
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.wg.Add(1)
			go func() { defer m.wg.Done(); m.serve(c, srv) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); m.wg.Wait() })
	return m
}

const clientHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

// serve plays the listener to the client up to STARTTLS, the client to the
// listener likewise, then relays.
func (m *mitm) serve(cc net.Conn, srv *tls.Config) {
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(10 * time.Second))
	crd := stream.NewReader(cc, stream.ReaderOptions{})
	if _, err := crd.ReadHeader(); err != nil {
		return
	}
	io.WriteString(cc, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='mitm' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
	if el, err := crd.Next(); err != nil || !el.Is(stream.NSTLS, "starttls") {
		return
	}
	io.WriteString(cc, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	ctls := tls.Server(cc, srv)
	if ctls.Handshake() != nil {
		return
	}
	sc, err := net.Dial("tcp", m.target)
	if err != nil {
		return
	}
	defer sc.Close()
	sc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(sc, clientHeader+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	srd := stream.NewReader(sc, stream.ReaderOptions{})
	srd.ReadHeader()
	srd.Next() // features
	if el, err := srd.Next(); err != nil || !el.Is(stream.NSTLS, "proceed") {
		return
	}
	stls := tls.Client(sc, m.tlsCfg)
	if stls.Handshake() != nil {
		return
	}
	go func() { io.Copy(stls, ctls); stls.CloseWrite() }()
	// The listener's first features after TLS: rewrite them, then relay.
	var buf []byte
	chunk := make([]byte, 4096)
	for !bytes.Contains(buf, []byte("</stream:features>")) {
		n, err := stls.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			return
		}
	}
	if m.strip {
		s := string(buf)
		for _, p := range []string{"<mechanism>SCRAM-SHA-256-PLUS</mechanism>", "<mechanism>SCRAM-SHA-1-PLUS</mechanism>"} {
			s = strings.ReplaceAll(s, p, "")
		}
		if i := strings.Index(s, "<sasl-channel-binding"); i >= 0 {
			j := strings.Index(s, "</sasl-channel-binding>")
			s = s[:i] + s[j+len("</sasl-channel-binding>"):]
		}
		buf = []byte(s)
	}
	ctls.Write(buf)
	io.Copy(ctls, stls)
}

// TestChannelBindingStopsMITM (issue 18 item 10): a man in the middle with
// a certificate the client trusts relays a SCRAM-PLUS login: the binding
// data (of the client's TLS connection, with the MITM) does not match the
// listener's, and the login fails; when it removes the -PLUS offer, the
// client's SCRAM says "y" and the listener refuses it (RFC 5802 §6).
// Without channel binding the same MITM logs in, which is the attack.
func TestChannelBindingStopsMITM(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cb    ChannelBinding
		strip bool
		ok    bool
		log   string // what the listener logs
	}{
		{"PLUS relayed", ChannelBindingOffer, false, false, "channel binding mismatch"},
		{"PLUS stripped", ChannelBindingOffer, true, false, "SCRAM without channel binding refused"},
		{"no channel binding", ChannelBindingOff, false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			_, l, addr := newC2S(t, router.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, Config{ChannelBinding: tc.cb})
			defer func() {
				if !strings.Contains(logs.String(), tc.log) {
					t.Errorf("the listener's log lacks %q:\n%s", tc.log, logs.String())
				}
			}()
			m := newMITM(t, addr, l.CertPool(), tc.strip)
			c, err := xclient.Dial(ctxT(t), m.addr, xclient.Config{JID: jid.MustParse("alice@localhost"), Password: "alicepw",
				TLS: &tls.Config{RootCAs: m.pool, ServerName: "localhost"}})
			if tc.ok {
				if err != nil {
					t.Fatalf("login through the MITM without binding: %v", err)
				}
				c.Close(ctxT(t))
				return
			}
			if err == nil {
				c.Close(ctxT(t))
				t.Fatalf("login through the MITM succeeded with %s", c.Mechanism())
			}
			if !errors.Is(err, xclient.ErrNotAuthorized) {
				t.Errorf("got %v, want not-authorized", err)
			}
		})
	}
}

// publicListener makes the connections of a loopback listener look as if
// they came in on a public address (what TLSAuto decides by), keeping real
// TCP underneath.
type publicListener struct{ net.Listener }

type publicConn struct{ net.Conn }

func (l publicListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return publicConn{c}, nil
}

func (publicConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5222} }

// TestTLSPolicy (issue 18 item 10): STARTTLS was optional by default, so a
// man in the middle could strip it; TLSAuto requires it on connections
// that did not come in on a loopback address, and the stream offers no
// mechanism before it (RFC 6120 §5.3.1).
func TestTLSPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   TLSPolicy
		public   bool
		required bool
	}{
		{"auto, public address", TLSAuto, true, true},
		{"auto, loopback", TLSAuto, false, false},
		{"required, loopback", TLSRequired, false, true},
		{"optional, public address", TLSOptional, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestRouter(t, router.Config{Users: testUsers})
			srv, err := New(r, Config{TLSPolicy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var l net.Listener = ln
			if tc.public {
				l = publicListener{ln}
			}
			go srv.Serve(l)
			addr := ln.Addr().String()
			rc := dialC2SRawNoHeader(t, addr)
			rc.send(clientHeader)
			if _, err := rc.rd.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			f := rc.expectName(t, "features")
			if got := strings.Contains(f, "<required/>"); got != tc.required {
				t.Errorf("features %s: required %v, want %v", f, got, tc.required)
			}
			if got := strings.Contains(f, "<mechanisms"); got == tc.required {
				t.Errorf("features %s: mechanisms before TLS %v", f, got)
			}
			// A SCRAM attempt before TLS: refused where TLS is required.
			rc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" + b64("n,,n=alice,r=abcdef") + "</auth>")
			want := "challenge"
			if tc.required {
				want = "failure"
			}
			if got := rc.expectName(t, want); tc.required && !strings.Contains(got, "<encryption-required/>") {
				t.Errorf("auth before TLS: %s", got)
			}
			// The client package, without TLS, logs in only where allowed.
			_, err = xclient.Dial(ctxT(t), addr, xclient.Config{JID: jid.MustParse("alice@localhost"), Password: "alicepw"})
			if tc.required != errors.Is(err, xclient.ErrTLSUnavailable) {
				t.Errorf("login without TLS: %v", err)
			}
			if _, err := login(t, addr, srv, "alice@localhost", "alicepw", "", true); err != nil {
				t.Errorf("login with TLS: %v", err)
			}
		})
	}
}
