package c2s

import (
	"errors"
	"testing"
	"time"

	"mellium.im/sasl"

	"xmppkit.dev/router"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// loginRaw opens a plaintext client stream (with the extra header
// attributes attrs), authenticates user (a localpart of the test users)
// with SCRAM-SHA-256 and binds resource: a hand-driven client whose
// received bytes the test reads as they came.
func loginRaw(t testing.TB, addr, user, pw, resource, attrs string) *c2sRaw {
	t.Helper()
	rc := dialC2SRawHeader(t, addr, attrs)
	rc.scramLogin(t, sasl.ScramSha256, user, pw, attrs)
	rc.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	if st, err := rc.rd.ReadStanza(); err != nil || st.Type != stanza.TypeResult {
		t.Fatalf("bind: %v %v", st, err)
	}
	return rc
}

// nextRaw returns the next element the raw client receives, as bytes.
func (rc *c2sRaw) nextRaw(t testing.TB) string {
	t.Helper()
	el, err := rc.rd.Next()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(el.Raw())
}

// TestJabberServerStanzaRefused (issue 18 item 7): a stanza qualified by
// jabber:server on a client stream was routed; it ends the stream with
// unsupported-stanza-type (RFC 6120 §4.9.3.22, as Prosody does), and
// nothing reaches the addressee.
func TestJabberServerStanzaRefused(t *testing.T) {
	_, l, addr := newC2S(t, router.Config{}, Config{})
	bob := mustLogin(t, addr, l, "bob@localhost/desk", "bobpw")
	for _, send := range []string{
		"<message xmlns='jabber:server' to='bob@localhost/desk' from='alice@localhost/a1'><body>s2s?</body></message>",
		"<s:message xmlns:s='jabber:server' to='bob@localhost/desk'><s:body>prefixed</s:body></s:message>",
		"<iq xmlns='jabber:component:accept' type='get' id='x' to='bob@localhost/desk'><ping xmlns='urn:xmpp:ping'/></iq>",
	} {
		alice := loginRaw(t, addr, "alice", "alicepw", "a1", "")
		alice.send(send)
		_, err := alice.rd.Next()
		if !errors.Is(err, stream.ErrUnsupportedStanzaType) {
			t.Errorf("%s: got %v, want unsupported-stanza-type", send, err)
		}
	}
	// bob got none of them: the next thing he gets is this message.
	alice := loginRaw(t, addr, "alice", "alicepw", "a2", "")
	alice.send("<message to='bob@localhost/desk'><body>client</body></message>")
	if got := c2sRecv(t, bob, stanza.Message); got.Body() != "client" {
		t.Errorf("bob got %s", got)
	}
}

// TestFromStampedCanonical (issue 18 item 8): a client's from written in a
// non-canonical form of its own address (ALICE@LOCALHOST/a1) was accepted
// as equal and forwarded as written; the recipient now gets the canonical
// full JID.
func TestFromStampedCanonical(t *testing.T) {
	_, _, addr := newC2S(t, router.Config{}, Config{})
	bob := loginRaw(t, addr, "bob", "bobpw", "desk", "")
	alice := loginRaw(t, addr, "alice", "alicepw", "a1", "")
	for i, from := range []string{"ALICE@LOCALHOST/a1", "alice@LocalHost/a1", "Alice@localhost", "alice@localhost/a1"} {
		id := string(rune('a' + i))
		alice.send("<message from='" + from + "' to='bob@localhost/desk' id='" + id + "'/>")
		want := "<message from='alice@localhost/a1' to='bob@localhost/desk' id='" + id + "'/>"
		if got := bob.nextRaw(t); got != want {
			t.Errorf("from %s: bob got %s, want %s", from, got, want)
		}
	}
}

// TestStreamLangStamped (issue 18 item 13): the xml:lang of a client's
// stream is stamped on the stanzas it sends without one (RFC 6120 §4.7.4
// SHOULD); a stanza's own xml:lang is kept.
func TestStreamLangStamped(t *testing.T) {
	_, _, addr := newC2S(t, router.Config{}, Config{})
	bob := loginRaw(t, addr, "bob", "bobpw", "desk", "")
	alice := loginRaw(t, addr, "alice", "alicepw", "a1", " xml:lang='de'")
	alice.send("<message to='bob@localhost/desk' id='1'><body>Hallo</body></message>")
	if got, want := bob.nextRaw(t), "<message from='alice@localhost/a1' xml:lang='de' to='bob@localhost/desk' id='1'><body>Hallo</body></message>"; got != want {
		t.Errorf("bob got %s, want %s", got, want)
	}
	alice.send("<message to='bob@localhost/desk' id='2' xml:lang='fr'><body>Salut</body></message>")
	if got, want := bob.nextRaw(t), "<message from='alice@localhost/a1' to='bob@localhost/desk' id='2' xml:lang='fr'><body>Salut</body></message>"; got != want {
		t.Errorf("bob got %s, want %s", got, want)
	}
	// A stream without xml:lang stamps nothing.
	carol := loginRaw(t, addr, "bob", "bobpw", "other", "")
	carol.send("<message to='bob@localhost/desk' id='3'/>")
	if got, want := bob.nextRaw(t), "<message from='bob@localhost/other' to='bob@localhost/desk' id='3'/>"; got != want {
		t.Errorf("bob got %s, want %s", got, want)
	}
}

// TestErrorPresenceToBareJID (issue 18 item 13): an error presence a
// component addresses to a user's bare JID (Biboumi's join errors) was
// dropped; it reaches the user's available resources, as on Prosody
// (RFC 6121 §8.5.2.1.2), over TCP from an XEP-0114 component. A message
// error to the bare JID is still discarded (as Prosody does) and counted.
func TestErrorPresenceToBareJID(t *testing.T) {
	r, compAddr := newTestRouter(t, router.Config{Users: testUsers})
	l, ca, err := Listen(r, "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	alice := mustLogin(t, ca.String(), l, "alice@localhost/a1", "alicepw")
	if err := alice.SendPresence(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The router's echo (RFC 6121 §4.2.2): it has taken her presence.
	if got := c2sRecv(t, alice, stanza.Presence); got.From != alice.JID() {
		t.Fatalf("alice got %s, want the echo of her presence", got)
	}
	comp := connectRaw(t, compAddr, "gw.localhost")
	comp.send("<presence to='alice@localhost/a1' from='room@gw.localhost/alice'/>") // a join that works
	if got := c2sRecv(t, alice, stanza.Presence); got.From.String() != "room@gw.localhost/alice" {
		t.Fatalf("alice got %s", got)
	}
	before := r.Stats()
	comp.send("<message type='error' to='alice@localhost' from='room@gw.localhost' id='m1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
	comp.send("<presence type='error' to='alice@localhost' from='other@gw.localhost/alice' id='join'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
	got := c2sRecv(t, alice, stanza.Presence)
	if got.Type != stanza.TypeError || got.ID != "join" || !errors.Is(got.Err(), stanza.ErrItemNotFound) {
		t.Errorf("alice got %s, want the error presence", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Reasons[router.ReasonErrorToBare] == before.Reasons[router.ReasonErrorToBare] && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := r.Stats(); s.Dropped != before.Dropped+1 || s.Reasons[router.ReasonErrorToBare] != before.Reasons[router.ReasonErrorToBare]+1 {
		t.Errorf("after a message error to the bare JID: Dropped %d→%d, reasons %v", before.Dropped, s.Dropped, s.Reasons)
	}
}

// dialC2SRawHeader opens a client stream with extra header attributes and
// reads up to the features.
func dialC2SRawHeader(t testing.TB, addr, attrs string) *c2sRaw {
	t.Helper()
	rc := dialC2SRawNoHeader(t, addr)
	rc.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'" + attrs + ">")
	if _, err := rc.rd.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	rc.expectName(t, "features")
	return rc
}
