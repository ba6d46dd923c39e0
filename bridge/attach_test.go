package bridge_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/stanza"
)

func opener(data []byte) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

// TestAttachmentsLocalFiles: the network's files are kept in a directory
// the gateway serves over HTTP and sent as XEP-0066 links; the user's
// links reach the network as attachments it can open, bounded.
func TestAttachmentsLocalFiles(t *testing.T) {
	files := &bridge.LocalFiles{Dir: t.TempDir()}
	srv := httptest.NewServer(files)
	defer srv.Close()
	files.BaseURL = srv.URL + "/"
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", Uploader: files, MaxAttachment: 1 << 20})
	acc := env.Network().Account("alice")
	acc.AddContact(bridge.Contact{ID: "bob"})
	u := env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	if rep := env.Gateway.Report(u.JID().DomainJID()); !strings.Contains(rep.String(), srv.URL) {
		t.Errorf("the report does not name the file server:\n%s", rep)
	}

	pic := bytes.Repeat([]byte("picture "), 5000)
	err := acc.Emit(ctx(t), &bridge.Message{Chat: "bob", From: "bob", ID: "f1", Body: "look",
		Attachments: []bridge.Attachment{{Name: "../../cat photo.png", ContentType: "image/png", Open: opener(pic)}}})
	if err != nil {
		t.Fatal(err)
	}
	u.Expect(func(st *stanza.Stanza) bool { return st.ID == "f1" && st.Body() == "look" }, "the text")
	m := u.ExpectChild("bob", bridge.NSOOB, "x")
	link := m.Body()
	if !strings.HasPrefix(link, srv.URL+"/") || !strings.HasSuffix(link, "/cat%20photo.png") {
		t.Fatalf("link %q", link)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, pic) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET %s: %d bytes, headers %v", link, len(got), resp.Header)
	}
	for _, bad := range []string{"/", "/../secret", "/0123/x", srv.URL[len(srv.URL):] + "/" + strings.Repeat("0", 32) + "/nope"} {
		if r, err := http.Get(srv.URL + bad); err == nil {
			r.Body.Close()
			if r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %s", bad, r.Status)
			}
		}
	}

	// user -> network: a XEP-0066 link, opened by the network, bounded.
	big := bytes.Repeat([]byte("x"), 2<<20)
	files2 := http.NewServeMux()
	files2.HandleFunc("/small.txt", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("small file")) })
	files2.HandleFunc("/big.bin", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	fsrv := httptest.NewServer(files2)
	defer fsrv.Close()
	for _, name := range []string{"small.txt", "big.bin"} {
		out := stanza.NewMessage(stanza.TypeChat, u.Puppet("bob"), "")
		out.SetPayloadElements(stanza.TextElement("", "body", fsrv.URL+"/"+name),
			stanza.NewBuilder(bridge.NSOOB, "x").TextElement("url", fsrv.URL+"/"+name).Element())
		u.MustSend(out)
		s := next(t, acc)
		msg := s.Event.(*bridge.Message)
		if len(msg.Attachments) != 1 || msg.Body != "" || msg.Attachments[0].Name != name {
			t.Fatalf("network got %#v", msg)
		}
		rc, err := msg.Attachments[0].Open(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		switch name {
		case "small.txt":
			if err != nil || string(data) != "small file" {
				t.Fatalf("small: %q %v", data, err)
			}
		case "big.bin":
			if err == nil {
				t.Fatalf("a file over MaxAttachment was read whole (%d bytes)", len(data))
			}
		}
	}
}
