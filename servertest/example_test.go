package servertest_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"testing"

	"xmppkit.dev/servertest"
)

// A package whose tests share one server per kind runs them through Main,
// which stops the servers when the test binary ends.
func ExampleMain() {
	var m *testing.M // given to TestMain
	os.Exit(servertest.Main(m))
}

// A test takes the shared Prosody server and a component of its own, then
// connects to it as that component (XEP-0114).
func ExampleShared() {
	var t *testing.T // the test's *testing.T
	srv := servertest.Shared(t, servertest.KindProsody)
	comp := srv.Component(t) // e.g. {c1.localhost s3cret}, free again when t ends
	conn, err := net.Dial("tcp", srv.ComponentAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = comp // handshake as comp.Domain with comp.Secret
}

// A fault test starts a private ejabberd and crashes it while a component
// is connected, then brings it back on the same port and data.
func ExampleEjabberd() {
	var t *testing.T
	srv := servertest.Ejabberd(t, servertest.EjabberdOptions{
		Components: []servertest.Component{{Domain: "echo.localhost", Secret: "pw"}},
	})
	// ... connect a component to srv.ComponentAddr ...
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
}

// slixmpp, an independent client, logs in to the server under test.
func ExampleRunPython() {
	var t *testing.T
	srv := servertest.Shared(t, servertest.KindProsody)
	alice := srv.Users[0]
	host, port, _ := net.SplitHostPort(srv.C2SAddr)
	out, err := servertest.RunPython(t, context.Background(), `
import sys, slixmpp
c = slixmpp.ClientXMPP(sys.argv[1], sys.argv[2])
c.ca_certs = sys.argv[5]
c.add_event_handler("session_start", lambda e: (print("online"), c.disconnect()))
c.connect(address=(sys.argv[3], int(sys.argv[4])))
c.process(forever=False)
`, alice.JID(srv.Domain), alice.Password, host, port, srv.CertFile)
	if err != nil || out != "online\n" {
		t.Fatalf("%q %v", out, err)
	}
}

// A store test takes a database of its own on the shared PostgreSQL server
// and opens it with the driver of its choice (pgx, lib/pq, ...).
func ExampleServer_Database() {
	var t *testing.T
	srv := servertest.Shared(t, servertest.KindPostgres)
	url := srv.Database(t) // postgres://postgres@127.0.0.1:PORT/t_…?sslmode=disable, dropped when t ends
	_ = url                // e.g. pgxpool.New(ctx, url)
}

// A test of several component connections per domain starts a 2-node
// ejabberd cluster and connects one component to each node.
func ExampleEjabberdCluster() {
	var t *testing.T
	c := servertest.EjabberdCluster(t, servertest.EjabberdClusterOptions{})
	a, b := c.Nodes[0], c.Nodes[1]
	_, _ = a.ComponentAddr, b.ComponentAddr // same domains, one XMPP service
	if err := b.Kill(); err != nil {        // the other node keeps serving
		t.Fatal(err)
	}
	if err := b.Start(); err != nil { // and this one rejoins
		t.Fatal(err)
	}
}

// An IRC gateway's TLS test trusts the throwaway CA of an InspIRCd server,
// or pins its certificate.
func ExampleInspircd() {
	var t *testing.T
	srv := servertest.Inspircd(t, servertest.InspircdOptions{TLS: true})
	conn, err := tls.Dial("tcp", srv.TLSAddr, &tls.Config{RootCAs: srv.CertPool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = srv.CertSHA256() // the fingerprint to pin
}
