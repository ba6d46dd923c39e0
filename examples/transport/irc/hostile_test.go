package irc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// hostileServer is an IRC server on a loopback port that runs script on
// each connection, reading (and discarding) what the client sends in the
// background unless deaf.
func hostileServer(t *testing.T, script func(w io.Writer)) string {
	return hostileServerDeaf(t, false, script)
}

func hostileServerDeaf(t *testing.T, deaf bool, script func(w io.Writer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				if !deaf {
					go io.Copy(io.Discard, bufio.NewReader(nc))
				}
				script(nc)
				<-stop // keep the connection until the test ends

			}()
		}
	}()
	return ln.Addr().String()
}

// received collects what a Conn's Handler gets.
type received struct {
	mu   sync.Mutex
	msgs []*Message
	got  chan struct{}
}

func newReceived() *received { return &received{got: make(chan struct{}, 1<<16)} }

func (r *received) handle(m *Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.got <- struct{}{}
}

// waitFor returns the first message with the command, within 20 s (a
// flood on a loaded machine takes a while).
func (r *received) waitFor(t *testing.T, command string) *Message {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		for _, m := range r.msgs {
			if m.Command == command {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("no %s received", command)
		}
	}
}

func hostileDial(t *testing.T, addr string, r *received) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var h func(*Message)
	if r != nil {
		h = r.handle
	}
	c, err := Dial(ctx, Config{Addr: addr, Nick: "gw", Handler: h, RegisterTimeout: 500 * time.Millisecond,
		Throttle: Throttle{Interval: -1}})
	if err == nil {
		t.Cleanup(func() { c.QuitAfter("", 0) })
	}
	return c, err
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestHostileServer attacks the IRC client over TCP with what a hostile or
// broken IRC server can send (issue 18 item 14). Each case names what the
// client must do; none may panic, hang or buffer without bound.
func TestHostileServer(t *testing.T) {
	const welcome = ":srv 001 gw :Welcome gw!u@h\r\n"
	t.Run("lines without CRLF (LF only)", func(t *testing.T) {
		r := newReceived()
		addr := hostileServer(t, func(w io.Writer) {
			io.WriteString(w, ":srv 001 gw :Welcome\n:a!b@c PRIVMSG gw :hi there\n")
		})
		if _, err := hostileDial(t, addr, r); err != nil {
			t.Fatal(err)
		}
		if m := r.waitFor(t, "PRIVMSG"); m.Trailing() != "hi there" {
			t.Fatalf("got %q", m.Trailing())
		}
	})
	t.Run("line over 512 bytes", func(t *testing.T) {
		r := newReceived()
		long := strings.Repeat("y", 8000)
		addr := hostileServer(t, func(w io.Writer) {
			io.WriteString(w, welcome+":a!b@c PRIVMSG gw :"+long+"\r\n:a!b@c NOTICE gw :after\r\n")
		})
		if _, err := hostileDial(t, addr, r); err != nil {
			t.Fatal(err)
		}
		if m := r.waitFor(t, "PRIVMSG"); m.Trailing() != long {
			t.Fatalf("an 8 KB line came as %d bytes", len(m.Trailing()))
		}
		if m := r.waitFor(t, "NOTICE"); m.Trailing() != "after" {
			t.Fatalf("next line: %q", m.Trailing())
		}
	})
	t.Run("10 MB line without a line end", func(t *testing.T) {
		r := newReceived()
		heap0 := heapInuse()
		addr := hostileServer(t, func(w io.Writer) {
			io.WriteString(w, welcome+":a!b@c PRIVMSG gw :")
			chunk := []byte(strings.Repeat("z", 64<<10))
			for range 160 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			io.WriteString(w, "\r\n:a!b@c NOTICE gw :after\r\n")
		})
		if _, err := hostileDial(t, addr, r); err != nil {
			t.Fatal(err)
		}
		if m := r.waitFor(t, "NOTICE"); m.Trailing() != "after" {
			t.Fatalf("next line: %q", m.Trailing())
		}
		if m := r.waitFor(t, "PRIVMSG"); len(m.Trailing()) > maxLineRead {
			t.Fatalf("a 10 MB line kept whole (%d bytes)", len(m.Trailing()))
		}
		if g := heapInuse(); g > heap0+8<<20 {
			t.Fatalf("heap grew by %d bytes", g-heap0)
		}
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		r := newReceived()
		addr := hostileServer(t, func(w io.Writer) {
			io.WriteString(w, welcome+":\xff\xfe!b@c PRIVMSG gw :caf\xe9 \xc3\x28 \xed\xa0\x80 ok\r\n")
		})
		if _, err := hostileDial(t, addr, r); err != nil {
			t.Fatal(err)
		}
		m := r.waitFor(t, "PRIVMSG")
		if txt := Text(m.Trailing()); !utf8.ValidString(txt) || !strings.HasPrefix(txt, "café ") || !strings.HasSuffix(txt, " ok") {
			t.Fatalf("Text = %q", txt)
		}
		if nick := Text(m.Nick()); !utf8.ValidString(nick) {
			t.Fatalf("nick %q", nick)
		}
	})
	t.Run("numerics with missing parameters", func(t *testing.T) {
		r := newReceived()
		addr := hostileServer(t, func(w io.Writer) {
			io.WriteString(w, ":srv 005\r\n:srv CAP\r\n:srv 001\r\n")
			for _, cmd := range []string{"001", "005", "332", "333", "353", "366", "324", "433", "401", "NICK", "JOIN", "PART",
				"KICK", "MODE", "PRIVMSG", "NOTICE", "TOPIC", "QUIT", "BATCH", "CAP", "PING"} {
				io.WriteString(w, ":srv "+cmd+"\r\n")
				io.WriteString(w, cmd+"\r\n")
			}
			io.WriteString(w, ":a!b@c PRIVMSG gw :still alive\r\n")
		})
		c, err := hostileDial(t, addr, r)
		if err != nil {
			t.Fatal(err)
		}
		if m := r.waitFor(t, "PRIVMSG"); m.Trailing() != "still alive" && m.Trailing() != "" {
			t.Fatalf("got %q", m.Trailing())
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			r.mu.Lock()
			last := r.msgs[len(r.msgs)-1]
			r.mu.Unlock()
			if last.Trailing() == "still alive" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the message after the bare numerics did not arrive")
			}
			<-r.got
		}
		if c.Nick() != "gw" {
			t.Fatalf("a bare 001 or NICK changed the nick to %q", c.Nick())
		}
	})
	t.Run("registration never completed", func(t *testing.T) {
		addr := hostileServer(t, func(w io.Writer) {
			io.WriteString(w, ":srv NOTICE * :*** Looking up your hostname...\r\n")
		})
		start := time.Now()
		_, err := hostileDial(t, addr, nil)
		if !errors.Is(err, ErrRegistrationTimeout) || time.Since(start) > 3*time.Second {
			t.Fatalf("Dial: %v after %v", err, time.Since(start))
		}
	})
	t.Run("registration drowned in CAP LS lines", func(t *testing.T) {
		heap0 := heapInuse()
		addr := hostileServer(t, func(w io.Writer) {
			line := []byte(":srv CAP * LS * :" + strings.Repeat("cap-name-", 50) + "\r\n")
			for range 20000 { // 9 MB of capability names
				if _, err := w.Write(line); err != nil {
					return
				}
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Dial(ctx, Config{Addr: addr, Nick: "gw", Caps: []string{"server-time"}, RegisterTimeout: 2 * time.Second})
		if err == nil {
			t.Fatal("registration succeeded")
		}
		if g := heapInuse(); g > heap0+8<<20 {
			t.Fatalf("heap grew by %d bytes during registration", g-heap0)
		}
	})
	t.Run("PING flood while not reading", func(t *testing.T) {
		r := newReceived()
		addr := hostileServerDeaf(t, true, func(w io.Writer) {
			io.WriteString(w, welcome)
			ping := []byte(strings.Repeat("PING :flood\r\n", 1000))
			for range 200 {
				if _, err := w.Write(ping); err != nil {
					return
				}
			}
			io.WriteString(w, ":a!b@c PRIVMSG gw :after the flood\r\n")
		})
		if _, err := hostileDial(t, addr, r); err != nil {
			t.Fatal(err)
		}
		if m := r.waitFor(t, "PRIVMSG"); m.Trailing() != "after the flood" {
			t.Fatalf("got %q", m.Trailing())
		}
	})
}
