package harness

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	gosrc "gosrc.io/xmpp"
	gosrcstanza "gosrc.io/xmpp/stanza"
	"mellium.im/xmlstream"
	mcomp "mellium.im/xmpp/component"
	mjid "mellium.im/xmpp/jid"
	mmux "mellium.im/xmpp/mux"
	mstanza "mellium.im/xmpp/stanza"

	"xmppkit.dev/component"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// Libs are the echo components under test, the ceiling first.
var Libs = []string{"raw", "xmppkit", "mellium", "gosrc"}

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)

// StartEcho connects an echo component written with lib to the XEP-0114
// server at addr, in this process, and returns a function that stops it
// and reports whether it failed. The component answers every chat message
// with a chat message to its sender, from the address it was sent to,
// with the same id and body.
func StartEcho(lib, addr string) (stop func() error, err error) {
	switch lib {
	case "raw":
		return startRaw(addr)
	case "xmppkit":
		return startXmppkit(addr)
	case "mellium":
		return startMellium(addr)
	case "gosrc":
		return startGosrc(addr)
	}
	return nil, fmt.Errorf("harness: unknown library %q", lib)
}

// runConn runs serve on a fresh connection to addr in a goroutine; stop
// closes the connection and waits. An error after stop is not reported.
func runConn(addr string, serve func(net.Conn) error) (func() error, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	var stopped sync.Once
	var closing bool
	var mu sync.Mutex
	go func() {
		err := serve(conn)
		mu.Lock()
		if closing {
			err = nil
		}
		mu.Unlock()
		done <- err
	}()
	return func() error {
		var err error
		stopped.Do(func() {
			mu.Lock()
			closing = true
			mu.Unlock()
			conn.Close()
			err = <-done
		})
		return err
	}, nil
}

// startRaw is the ceiling: a component with no XML parser. It splits the
// stream into elements and writes each back with the from and to
// attributes swapped, batching writes while input is buffered.
func startRaw(addr string) (func() error, error) {
	return runConn(addr, func(conn net.Conn) error {
		rd := newElemReader(conn)
		if err := dialHandshake(conn, rd, EchoDomain, Secret); err != nil {
			return err
		}
		out := make([]byte, 0, 64<<10)
		for {
			k, raw, err := rd.next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			switch k {
			case pieceClose:
				_, err := io.WriteString(conn, "</stream:stream>")
				return err
			case pieceElement:
				out = appendSwapped(out, raw)
			}
			if !rd.buffered() || len(out) >= 32<<10 {
				if _, err := conn.Write(out); err != nil {
					return err
				}
				out = out[:0]
			}
		}
	})
}

// appendSwapped appends el with the values of its from and to attributes
// exchanged. A start tag it cannot read is copied unchanged.
func appendSwapped(dst, el []byte) []byte {
	start := len(dst)
	dst = append(dst, '<')
	dst = append(dst, tagName(el)...)
	end := eachAttr(el, func(n, v []byte) bool {
		switch string(n) {
		case "from":
			n = []byte("to")
		case "to":
			n = []byte("from")
		}
		// v is a subslice of el: the quote is the byte before it.
		q := el[cap(el)-cap(v)-1]
		dst = append(dst, ' ')
		dst = append(dst, n...)
		dst = append(dst, '=', q)
		dst = append(dst, v...)
		dst = append(dst, q)
		return true
	})
	if end < 0 {
		return append(dst[:start], el...)
	}
	return append(dst, el[end:]...)
}

// XmppkitEchoHandler is the xmppkit echo service: a mux with one handler
// for chat messages that replies with stanza.Reply and the received body
// element.
func XmppkitEchoHandler() *mux.ServeMux {
	m := mux.New()
	m.HandleMessageFunc(stanza.TypeChat, "", func(ctx context.Context, s mux.Sender, msg *stanza.Stanza) error {
		r := msg.Reply()
		if b, ok := msg.Child("", "body"); ok {
			r.SetPayloadElements(b)
		}
		return s.Send(ctx, r)
	})
	return m
}

func startXmppkit(addr string) (func() error, error) {
	c := &component.Component{
		Addr:    addr,
		Domain:  EchoDomain,
		Secret:  Secret,
		Handler: XmppkitEchoHandler(),
		Logger:  discard,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() error {
		cancel()
		err := <-done
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}, nil
}

// melliumBody is a message with a body, as in mellium's echobot example.
type melliumBody struct {
	mstanza.Message
	Body string `xml:"body"`
}

func startMellium(addr string) (func() error, error) {
	h := mmux.New(mcomp.NSAccept,
		mmux.MessageFunc(mstanza.ChatMessage, xml.Name{Local: "body"},
			func(_ mstanza.Message, t xmlstream.TokenReadEncoder) error {
				// The handler reads the whole message, as in mellium's
				// own component test.
				var in melliumBody
				if err := xml.NewTokenDecoder(t).Decode(&in); err != nil {
					return err
				}
				msg, body := in.Message, in.Body
				return t.Encode(melliumBody{
					Message: mstanza.Message{ID: msg.ID, From: msg.To, To: msg.From, Type: mstanza.ChatMessage},
					Body:    body,
				})
			}))
	return runConn(addr, func(conn net.Conn) error {
		s, err := mcomp.NewSession(context.Background(), mjid.MustParse(EchoDomain), []byte(Secret), conn)
		if err != nil {
			return err
		}
		err = s.Serve(h)
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	})
}

func startGosrc(addr string) (func() error, error) {
	router := gosrc.NewRouter()
	router.HandleFunc("message", func(s gosrc.Sender, p gosrcstanza.Packet) {
		msg, ok := p.(gosrcstanza.Message)
		if !ok {
			return
		}
		reply := gosrcstanza.Message{
			Attrs: gosrcstanza.Attrs{From: msg.To, To: msg.From, Id: msg.Id, Type: gosrcstanza.MessageTypeChat},
			Body:  msg.Body,
		}
		_ = s.Send(reply)
	})
	// The options go in as a literal: ComponentOptions holds a mutex and
	// NewComponent takes it by value.
	c, err := gosrc.NewComponent(gosrc.ComponentOptions{
		TransportConfiguration: gosrc.TransportConfiguration{Address: addr, Domain: EchoDomain, ConnectTimeout: 1},
		Domain:                 EchoDomain,
		Secret:                 Secret,
		Name:                   "echo",
		Category:               "gateway",
		Type:                   "service",
	}, router, func(error) {})
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Connect() }()
	return func() error {
		if err := <-done; err != nil {
			return err
		}
		return c.Disconnect()
	}, nil
}
