package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"xmppkit.dev/client"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

const (
	nsSASL  = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind  = "urn:ietf:params:xml:ns:xmpp-bind"
	nsTLS   = "urn:ietf:params:xml:ns:xmpp-tls"
	header  = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='example.net' id='s1' version='1.0'>"
	plainF  = "<stream:features><mechanisms xmlns='" + nsSASL + "'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	bindF   = "<stream:features><bind xmlns='" + nsBind + "'/></stream:features>"
	success = "<success xmlns='" + nsSASL + "'/>"
)

// fake is the server end of a net.Pipe, driven by a test script.
type fake struct {
	t    *testing.T
	conn net.Conn
	r    *stream.Reader
}

func (f *fake) send(s string) {
	if _, err := io.WriteString(f.conn, s); err != nil {
		f.t.Errorf("fake: write: %v", err)
	}
}

// open reads the client's header and answers with ours and the features.
func (f *fake) open(features string) stream.Header {
	h, err := f.r.ReadHeader()
	if err != nil {
		f.t.Errorf("fake: client header: %v", err)
	}
	f.send(header + features)
	return h
}

// expect reads the client's next element and checks its name.
func (f *fake) expect(space, local string) (raw, text string) {
	el, err := f.r.Next()
	if err != nil {
		f.t.Errorf("fake: want <%s/>: %v", local, err)
		return "", ""
	}
	if !el.Is(space, local) {
		s, l := el.Name()
		f.t.Errorf("fake: got <%s xmlns='%s'/>, want <%s/>", l, s, local)
	}
	text, _ = el.Text()
	return string(el.Raw()), text
}

func (f *fake) stanza() *stanza.Stanza {
	st, err := f.r.ReadStanza()
	if err != nil {
		f.t.Errorf("fake: read stanza: %v", err)
	}
	return st
}

// restart reads the client's new header after SASL (RFC 6120 §6.4.6).
func (f *fake) restart(features string) {
	f.r.Reset(f.conn)
	f.open(features)
}

// bind answers the client's bind request with full.
func (f *fake) bind(full string) {
	iq := f.stanza()
	if iq == nil {
		return
	}
	f.send("<iq type='result' id='" + iq.ID + "'><bind xmlns='" + nsBind + "'><jid>" + full + "</jid></bind></iq>")
}

// plainLogin runs the server side of a PLAIN login up to bind.
func (f *fake) plainLogin(full string) {
	f.open(plainF)
	f.expect(nsSASL, "auth")
	f.send(success)
	f.restart(bindF)
	f.bind(full)
}

// run starts script as the server of a pipe and returns the client end.
// The test waits for the script to end.
func run(t *testing.T, script func(f *fake)) net.Conn {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// Registered first, so it runs last: after the client and the
		// script were closed.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines left (had %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	})
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sc.Close()
		script(&fake{t: t, conn: sc, r: stream.NewReader(sc, stream.ReaderOptions{})})
	}()
	t.Cleanup(func() {
		cc.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("fake server script did not end")
		}
	})
	return cc
}

var juliet = jid.MustParse("juliet@example.net/balcony")

func plainCfg() client.Config {
	return client.Config{JID: juliet, Password: "pw", AllowPlainWithoutTLS: true}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSessionOverPipe(t *testing.T) {
	conn := run(t, func(f *fake) {
		f.open(plainF)
		_, auth := f.expect(nsSASL, "auth")
		if data, _ := base64.StdEncoding.DecodeString(auth); string(data) != "\x00juliet\x00pw" {
			f.t.Errorf("PLAIN data %q", data)
		}
		f.send(success)
		f.restart("<stream:features><bind xmlns='" + nsBind + "'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>")
		iq := f.stanza()
		if res, _ := iq.Child(nsBind, "bind"); !strings.Contains(res.XML(), "<resource>balcony</resource>") {
			f.t.Errorf("bind request %s", iq)
		}
		f.send("<iq type='result' id='" + iq.ID + "'><bind xmlns='" + nsBind + "'><jid>juliet@example.net/balcony-7</jid></bind></iq>")
		sess := f.stanza() // required legacy session
		f.send("<iq type='result' id='" + sess.ID + "'/>")

		// A ping to romeo: first a spoofed answer from someone else, then
		// the real one.
		ping := f.stanza()
		if ping.To.String() != "romeo@example.net/orchard" {
			f.t.Errorf("ping to %s", ping.To)
		}
		f.send("<iq type='result' id='" + ping.ID + "' from='mallory@example.net/x'/>")
		f.send("<message from='romeo@example.net/orchard' type='chat' id='m1'><body>hi</body></message>")
		f.send("<iq type='result' id='" + ping.ID + "' from='romeo@example.net/orchard'/>")
		// An IQ to the account, answered by the server with no from.
		q := f.stanza()
		f.send("<iq type='error' id='" + q.ID + "'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		f.expect(stanza.NSClient, "presence")
		if _, err := f.r.Next(); err != io.EOF {
			f.t.Errorf("fake: want the client's </stream:stream>, got %v", err)
		}
		f.send("</stream:stream>")
	})
	c, err := client.New(ctx(t), conn, plainCfg())
	if err != nil {
		t.Fatal(err)
	}
	if c.JID().String() != "juliet@example.net/balcony-7" || c.Mechanism() != client.Plain {
		t.Errorf("JID %s mechanism %s", c.JID(), c.Mechanism())
	}
	res, err := c.SendIQ(ctx(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("romeo@example.net/orchard"), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}))
	if err != nil || res.From.String() != "romeo@example.net/orchard" {
		t.Fatalf("SendIQ = %v, %v", res, err)
	}
	for _, want := range []string{"mallory@example.net/x", "romeo@example.net/orchard"} {
		st, err := c.Recv(ctx(t))
		if err != nil || st.From.String() != want {
			t.Fatalf("Recv = %v, %v; want from %s", st, err, want)
		}
	}
	_, err = c.SendIQ(ctx(t), stanza.NewIQ(stanza.TypeGet, jid.JID{}, stanza.Element{Space: "jabber:iq:roster", Local: "query"}))
	if !errors.Is(err, stanza.ErrItemNotFound) {
		t.Errorf("SendIQ error = %v, want item-not-found", err)
	}
	if err := c.SendPresence(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx(t)); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := c.Close(ctx(t)); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := c.Recv(ctx(t)); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Recv after close = %v", err)
	}
	if err := c.Send(ctx(t), stanza.NewMessage("", juliet, "x")); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Send after close = %v", err)
	}
}

func TestNegotiationFailures(t *testing.T) {
	scramF := "<stream:features><mechanisms xmlns='" + nsSASL + "'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
	tests := []struct {
		name   string
		cfg    func(*client.Config)
		script func(f *fake)
		check  func(error) bool
	}{
		{"sasl failure with text", nil, func(f *fake) {
			f.open(plainF)
			f.expect(nsSASL, "auth")
			f.send("<failure xmlns='" + nsSASL + "'><account-disabled/><text xml:lang='en'>locked</text></failure>")
		}, func(err error) bool {
			var se *client.SASLError
			return errors.As(err, &se) && se.Condition == client.CondAccountDisabled && se.Text == "locked" && !se.Local
		}},
		{"sasl failure without condition", nil, func(f *fake) {
			f.open(plainF)
			f.expect(nsSASL, "auth")
			f.send("<failure xmlns='" + nsSASL + "'/>")
		}, func(err error) bool { return errors.Is(err, client.ErrNotAuthorized) }},
		{"PLAIN without TLS", func(c *client.Config) { c.AllowPlainWithoutTLS = false }, func(f *fake) {
			f.open(plainF)
		}, func(err error) bool { return errors.Is(err, client.ErrNoMechanism) }},
		{"unknown mechanisms only", nil, func(f *fake) {
			f.open("<stream:features><mechanisms xmlns='" + nsSASL + "'><mechanism>DIGEST-MD5</mechanism></mechanisms></stream:features>")
		}, func(err error) bool { return errors.Is(err, client.ErrNoMechanism) }},
		{"server requires STARTTLS", nil, func(f *fake) {
			f.open("<stream:features><starttls xmlns='" + nsTLS + "'><required/></starttls>" + plainF[17:])
		}, func(err error) bool { return errors.Is(err, client.ErrTLSUnavailable) }},
		{"client requires STARTTLS", func(c *client.Config) { c.TLS = &tls.Config{} }, func(f *fake) {
			f.open(plainF)
		}, func(err error) bool { return errors.Is(err, client.ErrTLSUnavailable) }},
		{"STARTTLS failure", func(c *client.Config) { c.TLS = &tls.Config{} }, func(f *fake) {
			f.open("<stream:features><starttls xmlns='" + nsTLS + "'/></stream:features>")
			f.expect(nsTLS, "starttls")
			f.send("<failure xmlns='" + nsTLS + "'/></stream:stream>")
		}, func(err error) bool { return errors.Is(err, client.ErrTLSUnavailable) }},
		{"stream error", nil, func(f *fake) {
			f.r.ReadHeader()
			f.send(header + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
		}, func(err error) bool { return errors.Is(err, stream.ErrHostUnknown) }},
		{"pre-1.0 server", nil, func(f *fake) {
			f.r.ReadHeader()
			f.send(strings.Replace(header, " version='1.0'>", ">", 1))
		}, func(err error) bool { return errors.Is(err, client.ErrBadServer) }},
		{"not features", nil, func(f *fake) {
			f.open("<handshake/>")
		}, func(err error) bool { return errors.Is(err, client.ErrBadServer) }},
		{"malformed XML", nil, func(f *fake) {
			f.open("<stream:features><a></b></stream:features>")
			f.r.Next() // the client's stream error
		}, func(err error) bool { return errors.Is(err, stream.ErrNotWellFormed) }},
		{"no bind feature", nil, func(f *fake) {
			f.open(plainF)
			f.expect(nsSASL, "auth")
			f.send(success)
			f.restart("<stream:features/>")
		}, func(err error) bool { return errors.Is(err, client.ErrBadServer) }},
		{"bind conflict", nil, func(f *fake) {
			f.open(plainF)
			f.expect(nsSASL, "auth")
			f.send(success)
			f.restart(bindF)
			iq := f.stanza()
			f.send("<iq type='error' id='" + iq.ID + "'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		}, func(err error) bool { return errors.Is(err, stanza.ErrConflict) }},
		{"bind result for another account", nil, func(f *fake) {
			f.open(plainF)
			f.expect(nsSASL, "auth")
			f.send(success)
			f.restart(bindF)
			f.bind("romeo@example.net/r")
		}, func(err error) bool { return errors.Is(err, client.ErrBadServer) }},
		{"SCRAM bad server signature", nil, func(f *fake) {
			f.open(scramF)
			scramServer(f, true)
		}, func(err error) bool {
			var se *client.SASLError
			return errors.As(err, &se) && se.Local
		}},
		{"SCRAM success without proof", nil, func(f *fake) {
			f.open(scramF)
			f.expect(nsSASL, "auth")
			f.send(success)
		}, func(err error) bool {
			var se *client.SASLError
			return errors.As(err, &se) && se.Local && se.Condition == client.CondNotAuthorized
		}},
		{"bad base64 challenge", nil, func(f *fake) {
			f.open(scramF)
			f.expect(nsSASL, "auth")
			f.send("<challenge xmlns='" + nsSASL + "'>!!!</challenge>")
		}, func(err error) bool {
			return errors.Is(err, &client.SASLError{Condition: client.CondIncorrectEncoding})
		}},
		{"deadline", nil, func(f *fake) {
			f.r.ReadHeader() // and never answer
			f.r.Next()
		}, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := plainCfg()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			conn := run(t, tc.script)
			limit := 5 * time.Second
			if tc.name == "deadline" {
				limit = 200 * time.Millisecond
			}
			cx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			c, err := client.New(cx, conn, cfg)
			if err == nil {
				c.Close(cx)
				t.Fatal("login succeeded")
			}
			if !tc.check(err) {
				t.Errorf("err = %v (%T)", err, err)
			}
		})
	}
}

// scramServer runs the server side of SCRAM-SHA-1 with mellium's server
// negotiator; with tamper it corrupts the server signature.
func scramServer(f *fake, tamper bool) {
	salt := []byte("NaCl-salt")
	salted := sasl.SCRAMSaltPassword(sha1.New, []byte("pw"), salt, 4096)
	srv := sasl.NewServer(sasl.ScramSha1, nil, sasl.SaltedCredentials(func(u, _ []byte, _ string) ([]byte, []byte, int64, error) {
		return salt, salted, 4096, nil
	}))
	_, text := f.expect(nsSASL, "auth")
	data, _ := base64.StdEncoding.DecodeString(text)
	_, resp, err := srv.Step(data)
	if err != nil {
		f.t.Errorf("scram first: %v", err)
		return
	}
	f.send("<challenge xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString(resp) + "</challenge>")
	_, text = f.expect(nsSASL, "response")
	data, _ = base64.StdEncoding.DecodeString(text)
	_, resp, err = srv.Step(data)
	if err != nil {
		f.t.Errorf("scram final: %v", err)
		return
	}
	if tamper {
		resp[len(resp)-3] ^= 1
	}
	f.send("<success xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString(resp) + "</success>")
}

func TestSCRAMOverPipe(t *testing.T) {
	conn := run(t, func(f *fake) {
		f.open("<stream:features><mechanisms xmlns='" + nsSASL + "'><mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>")
		scramServer(f, false)
		f.restart(bindF)
		f.bind("juliet@example.net/balcony")
		f.r.Next()
		f.send("</stream:stream>")
	})
	c, err := client.New(ctx(t), conn, plainCfg())
	if err != nil {
		t.Fatal(err)
	}
	if c.Mechanism() != client.ScramSHA1 {
		t.Errorf("mechanism %s, want SCRAM-SHA-1 preferred over PLAIN", c.Mechanism())
	}
	if err := c.Close(ctx(t)); err != nil {
		t.Error(err)
	}
}

func selfSigned(t *testing.T, host string) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSTARTTLSOverPipe(t *testing.T) {
	cert, pool := selfSigned(t, "example.net")
	conn := run(t, func(f *fake) {
		f.open("<stream:features><starttls xmlns='" + nsTLS + "'><required/></starttls></stream:features>")
		f.expect(nsTLS, "starttls")
		f.send("<proceed xmlns='" + nsTLS + "'/>")
		tc := tls.Server(f.conn, &tls.Config{Certificates: []tls.Certificate{cert}})
		if err := tc.Handshake(); err != nil {
			f.t.Errorf("fake: handshake: %v", err)
			return
		}
		f.conn = tc
		f.r.Reset(tc)
		h := f.open(plainF)
		if h.From != "juliet@example.net" {
			f.t.Errorf("header from %q after TLS", h.From)
		}
		f.expect(nsSASL, "auth")
		f.send(success)
		f.restart(bindF)
		f.bind("juliet@example.net/x")
		f.r.Next()
		f.send("</stream:stream>")
	})
	cfg := plainCfg()
	cfg.AllowPlainWithoutTLS = false
	cfg.TLS = &tls.Config{RootCAs: pool}
	c, err := client.New(ctx(t), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := c.TLSState(); !ok || st.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %v %x", ok, st.Version)
	}
	if err := c.Close(ctx(t)); err != nil {
		t.Error(err)
	}
}

func TestServerEndsStream(t *testing.T) {
	conn := run(t, func(f *fake) {
		f.plainLogin("juliet@example.net/x")
		f.stanza() // the IQ
		f.send("<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>")
	})
	c, err := client.New(ctx(t), conn, plainCfg())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendIQ(ctx(t), stanza.NewIQ(stanza.TypeGet, jid.MustParse("example.net"), stanza.Element{Space: "urn:xmpp:ping", Local: "ping"}))
	if !errors.Is(err, client.ErrClosed) || !errors.Is(err, stream.ErrSystemShutdown) {
		t.Errorf("pending SendIQ = %v", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), stream.ErrSystemShutdown) {
		t.Errorf("Err = %v", c.Err())
	}
	if err := c.Close(ctx(t)); !errors.Is(err, stream.ErrSystemShutdown) {
		t.Errorf("Close = %v", err)
	}
}

func TestBadXMLAfterLogin(t *testing.T) {
	conn := run(t, func(f *fake) {
		f.plainLogin("juliet@example.net/x")
		f.send("<message><body>x</message>")
		if _, err := f.r.Next(); !errors.Is(err, stream.ErrNotWellFormed) {
			f.t.Errorf("fake: want the client's not-well-formed, got %v", err)
		}
	})
	c, err := client.New(ctx(t), conn, plainCfg())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(ctx(t)); !errors.Is(err, stream.ErrNotWellFormed) {
		t.Errorf("Recv = %v", err)
	}
	c.Close(ctx(t))
}

func TestHandler(t *testing.T) {
	conn := run(t, func(f *fake) {
		f.plainLogin("juliet@example.net/x")
		f.send("<iq type='get' id='q1' from='example.net' to='juliet@example.net/x'><query xmlns='urn:x:unknown'/></iq>")
		f.send("<iq type='get' id='p1' from='example.net' to='juliet@example.net/x'><ping xmlns='urn:xmpp:ping'/></iq>")
		for _, want := range []string{"q1:error", "p1:result"} {
			st := f.stanza()
			if st == nil || st.ID+":"+st.Type != want {
				f.t.Errorf("fake: got %v, want %s", st, want)
			}
		}
		f.r.Next()
		f.send("</stream:stream>")
	})
	m := mux.New()
	m.HandleIQFunc(stanza.TypeGet, "urn:xmpp:ping", "ping", func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		return s.Send(ctx, iq.Result())
	})
	cfg := plainCfg()
	cfg.Handler = m
	c, err := client.New(ctx(t), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(ctx(t)); err != nil {
		t.Error(err)
	}
}

func TestConfigErrors(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	if _, err := client.New(context.Background(), a, client.Config{JID: jid.MustParse("example.net")}); err == nil {
		t.Error("JID without localpart accepted")
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Error("conn not closed after a config error")
	}
}

// TestPingAnswered: a client answers XEP-0199 pings itself when nothing of
// its own does (no Handler, or a Handler without a ping route), so that a
// server's idle check (the router's c2s IdleTimeout) keeps a quiet client;
// the ping never reaches Recv, and other iqs still get their error.
func TestPingAnswered(t *testing.T) {
	for _, withHandler := range []bool{false, true} {
		t.Run(fmt.Sprintf("handler=%v", withHandler), func(t *testing.T) {
			got := make(chan string, 4)
			conn := run(t, func(f *fake) {
				f.plainLogin("juliet@example.net/x")
				f.send("<iq type='get' id='p1' from='example.net' to='juliet@example.net/x'><ping xmlns='urn:xmpp:ping'/></iq>")
				if withHandler {
					f.send("<iq type='get' id='q1' from='example.net' to='juliet@example.net/x'><query xmlns='urn:x:unknown'/></iq>")
				}
				f.send("<message from='romeo@example.net/a' to='juliet@example.net/x' type='chat' id='m1'><body>hi</body></message>")
				n := 1
				if withHandler {
					n = 2
				}
				for range n {
					st := f.stanza()
					if st == nil {
						f.t.Error("fake: no answer")
						break
					}
					if st.ID == "p1" && (!st.From.IsZero() || st.To.String() != "example.net" || len(st.Children()) != 0) {
						f.t.Errorf("fake: ping answered from %q to %q with %d children", st.From, st.To, len(st.Children()))
					}
					got <- st.ID + ":" + st.Type
				}
				f.r.Next()
				f.send("</stream:stream>")
			})
			cfg := plainCfg()
			msgs := make(chan *stanza.Stanza, 1)
			if withHandler {
				m := mux.New()
				m.HandleMessageFunc(stanza.TypeChat, "", func(_ context.Context, _ mux.Sender, st *stanza.Stanza) error {
					msgs <- st
					return nil
				})
				cfg.Handler = m
			}
			c, err := client.New(ctx(t), conn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var first *stanza.Stanza
			if withHandler {
				select {
				case first = <-msgs:
				case <-time.After(5 * time.Second):
				}
			} else if first, err = c.Recv(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if first == nil || first.ID != "m1" {
				t.Fatalf("first stanza delivered = %v, want message m1 (the ping is not delivered)", first)
			}
			want := map[string]bool{"p1:result": true}
			if withHandler {
				want["q1:error"] = true
			}
			for range want {
				select {
				case a := <-got:
					if !want[a] {
						t.Errorf("server got %s, want one of %v", a, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("server got no answer to its ping")
				}
			}
			if err := c.Close(ctx(t)); err != nil {
				t.Error(err)
			}
		})
	}
}
