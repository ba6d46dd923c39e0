package gateway

import (
	"strings"
	"testing"

	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

// inspircdCertFP is an InspIRCd that asks for client certificates on its
// TLS port, with Anope linked for SASL and the account certacct holding
// the fingerprint of the returned certificate (NickServ CERT ADD).
func inspircdCertFP(t *testing.T) (*servertest.Server, *servertest.ClientCert) {
	ircd := servertest.Inspircd(t, servertest.InspircdOptions{SASL: true, ClientCerts: true,
		Users: []servertest.User{{Name: "certacct", Password: "certpw"}}})
	cert := servertest.NewClientCert(t, "certacct")
	if err := ircd.AddCertificate("certacct", cert); err != nil {
		t.Fatal(err)
	}
	return ircd, cert
}

// The SASL EXTERNAL cases (RFC 4422 Appendix A over IRCv3 SASL 3.1): the
// user's client certificate, set in the server's settings, logs the
// gateway's IRC connection in to the services account holding its
// fingerprint; a certificate no account holds fails the join with the
// server's own words.
var certCases = []struct {
	name string
	run  func(t *testing.T, h *host, cert *servertest.ClientCert)
}{
	{"sasl/external", caseSASLExternal},
	{"sasl/external-wrong-certificate", caseSASLExternalWrong},
	{"sasl/external-no-certificate", caseSASLExternalNone},
}

func TestInspircdCertRouter(t *testing.T) { runCertCases(t, routerHostWith) }

func TestInspircdCertProsody(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the router runs these cases")
	}
	runCertCases(t, prosodyHostWith)
}

func runCertCases(t *testing.T, with hostWith) {
	checkNoLeaks(t)
	ircd, cert := inspircdCertFP(t)
	h := with(t, ircd)
	for _, c := range certCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h, cert) })
	}
}

// caseSASLExternal: with SASL EXTERNAL and the client certificate in the
// server settings, the gateway connects over TLS (verified with the CA)
// presenting the certificate; the services log it in to certacct (WHOIS
// 330), the join completes, and the user talks in the channel.
func caseSASLExternal(t *testing.T, h *host, cert *servertest.ClientCert) {
	bob := dialIRC(t, h.irc.Addr, "extbob")
	bob.send("JOIN #ext")
	bob.expect("366 extbob #ext")
	u := h.newUser()
	nick := "ext" + u
	d := h.dev(t, u, "x")
	configure(t, d, "secure@irc.localhost", map[string][]string{
		setSASL: {"EXTERNAL"}, setClientCert: {string(cert.PEM)}})
	roomJID := "#ext%secure@irc.localhost"
	d.join(roomJID + "/" + nick)
	d.joinSequence(roomJID, nick, []string{"extbob"}, "110")
	bob.send("WHOIS " + nick)
	if l := bob.expect(" 330 extbob " + nick + " "); !strings.Contains(l, " "+nick+" certacct ") {
		t.Errorf("not logged in to certacct: %s", l)
	}
	bob.expect(" 318 extbob " + nick + " ")
	d.groupchat(roomJID, "hello with a certificate")
	if l := bob.expect("PRIVMSG #ext :hello with a certificate"); !strings.HasPrefix(l, ":"+nick+"!") {
		t.Errorf("the message came from %s", l)
	}
}

// caseSASLExternalWrong: a certificate no account holds: the services
// refuse it (904) and the join fails with the server's text; the gateway
// does not connect without the login.
func caseSASLExternalWrong(t *testing.T, h *host, _ *servertest.ClientCert) {
	other := servertest.NewClientCert(t, "mallory")
	u := h.newUser()
	nick := "ext" + u
	d := h.dev(t, u, "x")
	configure(t, d, "secure@irc.localhost", map[string][]string{
		setSASL: {"EXTERNAL"}, setClientCert: {string(other.PEM)}})
	occupant := "#extwrong%secure@irc.localhost/" + nick
	d.join(occupant)
	e := d.from(stanza.Presence, stanza.TypeError, occupant)
	err := e.Err()
	if err == nil || err.Condition != stanza.NotAuthorized || !strings.Contains(err.Text, "904") || !strings.Contains(err.Text, "SASL authentication failed") {
		t.Errorf("a certificate no account holds: %s", e)
	}
	t.Logf("the user is told: %s", err.Text)
	bob := dialIRC(t, h.irc.Addr, "extbob2")
	bob.send("WHOIS " + nick)
	bob.expect(" 401 extbob2 " + nick + " ")
}

// caseSASLExternalNone: SASL EXTERNAL without a client certificate in the
// settings fails the join at once, saying what is missing (the server
// would only have answered 904), and nothing reaches the server.
func caseSASLExternalNone(t *testing.T, h *host, _ *servertest.ClientCert) {
	u := h.newUser()
	d := h.dev(t, u, "x")
	configure(t, d, "secure@irc.localhost", map[string][]string{setSASL: {"EXTERNAL"}})
	occupant := "#extnone%secure@irc.localhost/ext" + u
	d.join(occupant)
	e := d.from(stanza.Presence, stanza.TypeError, occupant)
	if err := e.Err(); err == nil || err.Condition != stanza.NotAuthorized || !strings.Contains(err.Text, "needs a client certificate") {
		t.Errorf("EXTERNAL without a certificate: %s", e)
	} else {
		t.Logf("the user is told: %s", err.Text)
	}
	bob := dialIRC(t, h.irc.Addr, "extbob3")
	bob.send("WHOIS ext" + u)
	bob.expect(" 401 extbob3 ext" + u + " ")
}
