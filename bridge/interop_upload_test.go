package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/component"
	"xmppkit.dev/internal/itest"
	"xmppkit.dev/jid"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

// TestServersUpload: the network's files go to Prosody's XEP-0363 service
// (mod_http_file_share): on the user's behalf with the XEP-0356 iq
// privilege for urn:xmpp:http:upload:0 (the slot is the user's, under the
// user's quota), and as the gateway without it. The user's client gets a
// XEP-0066 link that serves the bytes.
func TestServersUpload(t *testing.T) {
	for _, behalf := range []bool{true, false} {
		t.Run(fmt.Sprintf("prosody/behalf=%v", behalf), func(t *testing.T) {
			runUpload(t, behalf)
		})
	}
	// ejabberd here has no upload service: the gateway serves the files
	// itself (LocalFiles) and sends the same XEP-0066 links.
	t.Run("ejabberd/localfiles", func(t *testing.T) {
		srv := servertest.Ejabberd(t, servertest.EjabberdOptions{
			Components: []servertest.Component{{Domain: gwDomain, Secret: servertest.Secret}},
			Users:      []servertest.User{{Name: "alice", Password: "alicepw"}},
			Privileges: []servertest.Privileges{{Component: gwDomain, Message: "outgoing", Presence: "roster"}},
		})
		files := &bridge.LocalFiles{Dir: t.TempDir()}
		hs := httptest.NewServer(files)
		defer hs.Close()
		files.BaseURL = hs.URL + "/files/"
		uploadCase(t, srv, files, hs.URL+"/files/", "")
	})
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func runUpload(t *testing.T, behalf bool) {
	port := freePort(t)
	grant := servertest.Privileges{Component: gwDomain, Message: "outgoing", Presence: "roster", Roster: "both"}
	if behalf {
		grant.IQ = map[string]string{bridge.NSUpload: "get"}
	}
	global := fmt.Sprintf(`http_ports = { %d }
http_interfaces = { "127.0.0.1" }
http_external_url = "http://127.0.0.1:%d/"
http_default_host = "upload.localhost"
Component "upload.localhost" "http_file_share"
`, port, port)
	srv := servertest.Prosody(t, servertest.ProsodyOptions{
		Components: []servertest.Component{{Domain: gwDomain, Secret: servertest.Secret}},
		Users:      []servertest.User{{Name: "alice", Password: "alicepw"}},
		Global:     global, Privileges: []servertest.Privileges{grant},
	})
	who := gwDomain
	if behalf {
		who = "alice@localhost"
	}
	uploadCase(t, srv, &bridge.HTTPUpload{Service: jid.MustParse("upload.localhost")}, fmt.Sprintf("http://127.0.0.1:%d/", port), who)
}

// uploadCase: bob sends alice a file; her client gets a link to it that
// serves the bytes; the slot was issued to who ("" when not XEP-0363).
func uploadCase(t *testing.T, srv *servertest.Server, up bridge.Uploader, prefix, who string) {
	netw := bridgetest.NewNetwork()
	acc := netw.Account("alice")
	acc.AddContact(bridge.Contact{ID: "bob"})
	store := &bridge.MemoryStore{}
	alice := jid.MustParse("alice@localhost")
	store.Put(bridge.Account{JID: alice, Values: map[string]string{"username": "alice", "password": "pw"}})
	gw, err := bridge.New(bridge.Config{Domain: gwDomain, Name: "Memnet", Network: netw, Registration: bridgetest.Fields(),
		Store: store, Uploader: up, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	itest.Component(t, srv, gwDomain, gw, testLogger(t), func(component.LinkEvent) { gw.LinkChanged() })
	t.Cleanup(gw.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := gw.Privileges().Wait(ctx, jid.MustParse("localhost")); err != nil {
		t.Fatal(err)
	}
	if rep := gw.Report(jid.JID{}).String(); strings.Contains(rep, "on each user's behalf") != (who == "alice@localhost") {
		t.Errorf("report:\n%s", rep)
	}
	c := itest.Login(t, srv, "alice", "phone")
	itest.Available(t, c)
	// The presence privilege tells the gateway alice is online.
	itest.Eventually(t, 10*time.Second, "the login", acc.Online)

	data := bytes.Repeat([]byte("xmppkit "), 4096)
	if err := acc.Emit(ctx, &bridge.Message{Chat: "bob", From: "bob", ID: "u1",
		Attachments: []bridge.Attachment{{Name: "notes.txt", ContentType: "text/plain", Open: opener(data)}}}); err != nil {
		t.Fatal(err)
	}
	m := itest.Expect(t, c, 15*time.Second, "the link", func(st *stanza.Stanza) bool {
		_, ok := st.Child(bridge.NSOOB, "x")
		return ok && st.From.Local() == "bob"
	})
	link := m.Body()
	if !strings.HasPrefix(link, prefix) || !strings.HasSuffix(link, "/notes.txt") {
		t.Fatalf("link %q", link)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("GET %s: %s, %d bytes", link, resp.Status, len(got))
	}
	if who == "" {
		return
	}
	log, _ := os.ReadFile(srv.LogFile)
	if !strings.Contains(string(log), "Issuing upload slot to "+who) {
		t.Errorf("the slot was not issued to %s:\n%s", who, log)
	}
}
