package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
	"xmppkit.dev/stream"
)

// Reading a server's side of a component stream (XEP-0114): the header, the
// handshake reply, a stanza, then the close.
func ExampleReader() {
	in := `<?xml version='1.0'?><stream:stream xml:lang='en' from='pubsub.localhost' id='abc' xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>` +
		`<handshake/>` +
		` ` + // a whitespace keepalive, skipped
		`<message from='juliet@localhost/balcony' to='pubsub.localhost' type='chat' id='1'><body>hello</body></message>` +
		`</stream:stream>`
	r := stream.NewReader(strings.NewReader(in), stream.ReaderOptions{NS: stream.NSComponent})
	h, err := r.ReadHeader()
	if err != nil {
		panic(err)
	}
	fmt.Println("stream id:", h.ID)
	el, err := r.Next()
	if err != nil {
		panic(err)
	}
	fmt.Println("handshake accepted:", el.Is(stream.NSComponent, "handshake"))
	s, err := r.ReadStanza()
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Kind, s.From, s.Body())
	_, err = r.Next()
	fmt.Println(err == io.EOF)
	// Output:
	// stream id: abc
	// handshake accepted: true
	// message juliet@localhost/balcony hello
	// true
}

// A stream error sent by the peer comes back as a *stream.Error.
func ExampleError() {
	in := `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='1'>` +
		`<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`
	r := stream.NewReader(strings.NewReader(in), stream.ReaderOptions{})
	if _, err := r.ReadHeader(); err != nil {
		panic(err)
	}
	_, err := r.Next()
	fmt.Println(errors.Is(err, stream.ErrNotAuthorized))
	fmt.Println(err)
	// Output:
	// true
	// stream error from peer: not-authorized
}

// Writing a stream: header, stanzas from any goroutine, graceful close.
func ExampleWriter() {
	client, server := net.Pipe()
	go func() { // the peer: print what arrives, then close its side
		r := stream.NewReader(server, stream.ReaderOptions{})
		h, _ := r.ReadHeader()
		fmt.Println("to:", h.To)
		w := stream.NewWriter(server, r)
		w.WriteHeader(stream.Header{NS: stream.NSComponent, From: h.To, ID: "s1"})
		s, _ := r.ReadStanza()
		fmt.Println(s)
		_, err := r.Next()
		fmt.Println("closed:", err == io.EOF)
		w.Close(context.Background())
	}()
	r := stream.NewReader(client, stream.ReaderOptions{})
	w := stream.NewWriter(client, r)
	w.WriteHeader(stream.Header{NS: stream.NSComponent, To: "pubsub.localhost"})
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("juliet@localhost"), "hi")
	m.ID = "m1"
	w.WriteStanza(m)
	go func() { // the read loop: Close needs it to see the peer's close
		r.ReadHeader()
		for {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("close:", w.Close(ctx))
	// Output:
	// to: pubsub.localhost
	// <message to='juliet@localhost' id='m1' type='chat'><body>hi</body></message>
	// closed: true
	// close: <nil>
}
