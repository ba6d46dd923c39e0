package router

import (
	"io"
	"net"
	"testing"
	"time"

	"xmppkit.dev/stream"
)

// FuzzComponentStream feeds arbitrary bytes to an authenticated component
// stream (over net.Pipe, no sockets): the router must not panic or hang,
// and must still route for other components afterwards.
func FuzzComponentStream(f *testing.F) {
	for _, s := range []string{
		"<message to='b.localhost' id='1'><body>x</body></message>",
		"<iq to='localhost' type='get' id='2'><ping xmlns='urn:xmpp:ping'/></iq>",
		"<message from='x@other' to='b.localhost'/>",
		"<presence to='u@localhost/r'/><message to='u@localhost'/>",
		"<message to='b.localhost'><body>unclosed",
		"<iq type='result' id='z' to='nope.example'/>",
		"</stream:stream>",
		"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
		"\x00\xff<",
	} {
		f.Add([]byte(s))
	}
	r, err := New(Config{Secrets: map[string]string{"a.localhost": testSecret}, Logger: quietLogger(), HandshakeTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close(ctxT(f))
	var got int
	if _, err := r.Attach("b.localhost", countHandler(&got)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cli, srv := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.serveComponent(srv)
		}()
		cli.SetDeadline(time.Now().Add(10 * time.Second))
		rd := stream.NewReader(cli, stream.ReaderOptions{NS: stream.NSComponent})
		w := stream.NewWriter(cli, nil)
		w.WriteHeader(stream.Header{NS: stream.NSComponent, To: "a.localhost"})
		h, err := rd.ReadHeader()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteRaw([]byte("<handshake>" + handshakeDigest(h.ID, testSecret) + "</handshake>"))
		if el, err := rd.Next(); err != nil || !el.Is(stream.NSComponent, "handshake") {
			t.Fatalf("handshake: %v", err)
		}
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, cli)
			close(drained)
		}()
		w.WriteRaw(in)
		w.Flush()
		w.WriteRaw([]byte(stream.CloseTag))
		w.Flush()
		cli.Close()
		<-drained
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("router still serving a closed pipe")
		}
		r.mu.RLock()
		_, up := r.comps["a.localhost"]
		r.mu.RUnlock()
		if up {
			t.Fatal("route left behind")
		}
	})
}
