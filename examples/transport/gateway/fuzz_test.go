package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// pipeDialer hands the gateway one end of an in-memory connection and the
// test the other, as a scripted IRC server.
type pipeDialer struct{ conns chan net.Conn }

func (d pipeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case d.conns <- s:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// checkSender is a mux.Sender that re-decodes every stanza the gateway
// sends, recording any that is not well-formed XMPP.
type checkSender struct {
	mu   sync.Mutex
	bad  []string
	sent chan *stanza.Stanza
}

func (c *checkSender) Send(ctx context.Context, st *stanza.Stanza) error {
	b := st.AppendXML(nil)
	if _, err := stanza.Decode(b); err != nil {
		c.mu.Lock()
		c.bad = append(c.bad, string(b)+": "+err.Error())
		c.mu.Unlock()
	}
	select {
	case c.sent <- st:
	default:
	}
	return nil
}

func (c *checkSender) SendIQ(context.Context, *stanza.Stanza) (*stanza.Stanza, error) {
	return nil, errors.New("not supported")
}

// FuzzIRCLines feeds arbitrary lines from an IRC server to a user's
// session that has joined #test, and checks that every stanza the gateway
// sends for them is well-formed XMPP, and that nothing panics or hangs.
func FuzzIRCLines(f *testing.F) {
	for _, s := range []string{
		":bob!~b@h PRIVMSG #test :hello",
		":bob!~b@h PRIVMSG #test :\x01ACTION waves\x01",
		":bob!~b@h PRIVMSG alice :caf\xe9 \x02bold\x02 \x00 \x1b[31m",
		":bob!~b@h NICK :b\xffb",
		":srv 433 alice bob :Nickname already in use",
		":bob!~b@h KICK #test alice :\x00\x01",
		":bob!~b@h TOPIC #test :\xed\xa0\x80 \xef\xbf\xbe",
		":bob!~b@h MODE #test +ov-v alice bob carol",
		":bob!~b@h PART #test :bye\r\n:bob!~b@h JOIN #test",
		":carol!~c@h QUIT :\"gone\"",
		":srv 401 alice nobody :No such nick",
		"ERROR :Closing link",
		":srv NOTICE alice :*** \x03" + "4,5notice",
		":<&'>!u@h PRIVMSG #test :<&'\">",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lines string) {
		d := pipeDialer{conns: make(chan net.Conn, 1)}
		cs := &checkSender{sent: make(chan *stanza.Stanza, 1024)}
		g, err := New(Config{
			Domain:       "irc.localhost",
			Networks:     map[string]Network{"irc.test.local": PlainNetwork("fake:6667")},
			Default:      "irc.test.local",
			Sender:       cs,
			Dialer:       d,
			Logger:       quietLogger(),
			ReconnectMin: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		p := stanza.NewPresence("", jid.MustParse("#test@irc.localhost/alice"))
		p.From = jid.MustParse("alice@localhost/x")
		g.HandleStanza(context.Background(), cs, p)
		srv := <-d.conns
		defer srv.Close()
		joined := make(chan struct{})
		go func() {
			// Drain what the gateway writes; tell when it sends JOIN.
			r := bufio.NewReader(srv)
			once := false
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					if !once {
						close(joined)
					}
					return
				}
				if !once && strings.HasPrefix(l, "JOIN #test") {
					once = true
					close(joined)
				}
			}
		}()
		write := func(s string) bool {
			srv.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, err := io.WriteString(srv, s)
			return err == nil
		}
		write(":srv 001 alice :Welcome alice!~alice@h\r\n:srv 005 alice PREFIX=(ov)@+ CHANTYPES=#& :ok\r\n")
		<-joined
		write(":alice!~alice@h JOIN :#test\r\n:srv 353 alice = #test :alice @bob +carol\r\n:srv 366 alice #test :End\r\n")
		if !write(lines + "\r\n:zz!u@h PRIVMSG someone :sentinel\r\n") {
			return // the gateway hung up (an ERROR line), which is fine
		}
		timeout := time.After(2 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case st := <-cs.sent:
				if st.Body() == "sentinel" {
					break wait
				}
			case <-tick.C:
				if sessionCount(g) == 0 {
					break wait // the lines ended the session (kicked, ERROR)
				}
			case <-timeout:
				t.Fatal("the session neither answered nor ended")
			}
		}
		cs.mu.Lock()
		defer cs.mu.Unlock()
		for _, b := range cs.bad {
			t.Errorf("bad stanza: %s", b)
		}
	})
}
