package component

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/stream"
)

func TestHandshakeDigest(t *testing.T) {
	// Vector computed independently: python3 -c "import hashlib;
	// print(hashlib.sha1(b'3BF96D32sharedsecret').hexdigest())".
	got := handshakeDigest("3BF96D32", "sharedsecret")
	const want = "3b6c216d9b55a7b4f3e82ab3e10cb81569f115d4"
	if got != want {
		t.Fatalf("digest %q, want %q", got, want)
	}
	if b := appendHandshake(nil, "3BF96D32", "sharedsecret"); string(b) != "<handshake>"+want+"</handshake>" {
		t.Fatalf("element %s", b)
	}
}

const (
	streamErrNS = "urn:ietf:params:xml:ns:xmpp-streams"
	hdrStart    = "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
)

func streamError(cond, text string) string {
	s := "<stream:error><" + cond + " xmlns='" + streamErrNS + "'/>"
	if text != "" {
		s += "<text xmlns='" + streamErrNS + "'>" + text + "</text>"
	}
	return s + "</stream:error></stream:stream>"
}

func TestHandshakeBranches(t *testing.T) {
	type check func(t *testing.T, err error)
	is := func(target error) check {
		return func(t *testing.T, err error) {
			t.Helper()
			if !errors.Is(err, target) {
				t.Fatalf("err = %v, want errors.Is %v", err, target)
			}
		}
	}
	tests := []struct {
		name      string
		script    func(fc *fakeConn)
		check     check
		permanent bool
	}{
		{
			name: "success",
			script: func(fc *fakeConn) {
				h, err := fc.readHeader()
				if err != nil || h.NS != stream.NSComponent || h.To != testDomain {
					fc.t.Errorf("component header %+v, %v", h, err)
					return
				}
				fc.sendHeader("abc")
				got, err := fc.readHandshake()
				if err != nil || got != handshakeDigest("abc", testSecret) {
					fc.t.Errorf("handshake %q, %v", got, err)
					return
				}
				fc.send("<handshake/>")
				fc.readStanza() // until the client goes away
			},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "wrong content namespace",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.send(hdrStart + "xmlns='jabber:client' id='x'>")
				fc.readStanza()
			},
			check: is(ErrBadServer),
		},
		{
			name: "unknown namespace",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.send(hdrStart + "xmlns='urn:example:bogus' id='x'>")
				fc.readStanza()
			},
			check: is(ErrBadServer),
		},
		{
			name: "missing id then close",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.send(hdrStart + "xmlns='jabber:component:accept' from='" + testDomain + "'>")
			},
			check: is(ErrBadServer),
		},
		{
			name: "missing id then silence",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.send(hdrStart + "xmlns='jabber:component:accept' from='" + testDomain + "'>")
				fc.readStanza()
			},
			check: is(ErrBadServer),
		},
		{
			name: "host-unknown as Prosody sends it",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.send(hdrStart + "xmlns='jabber:component:accept' version='1.0' id=''>" +
					streamError("host-unknown", testDomain+" does not match any configured external components"))
			},
			check:     is(stream.ErrHostUnknown),
			permanent: true,
		},
		{
			name: "not-authorized after handshake",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
				fc.send(streamError("not-authorized", "Given token does not match calculated token"))
			},
			check:     is(stream.ErrNotAuthorized),
			permanent: true,
		},
		{
			name: "conflict",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
				fc.send(streamError("conflict", "Component already connected"))
			},
			check: is(stream.ErrConflict),
		},
		{
			name:   "EOF before header",
			script: func(fc *fakeConn) { fc.readHeader() },
			check:  is(ErrDisconnected),
		},
		{
			name: "EOF mid-handshake",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
			},
			check: is(ErrDisconnected),
		},
		{
			name: "timeout",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
				fc.readStanza() // never answers
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrDisconnected) || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("err = %v, want ErrDisconnected wrapping a deadline", err)
				}
			},
		},
		{
			name: "unexpected element",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
				fc.send("<iq type='get' id='1' from='x.test'><ping xmlns='urn:xmpp:ping'/></iq>")
				fc.readStanza()
			},
			check: is(ErrBadServer),
		},
		{
			name: "handshake with text",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
				fc.send("<handshake>nope</handshake>")
				fc.readStanza()
			},
			check: is(ErrBadServer),
		},
		{
			name: "not well-formed",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
				fc.send("<handshake></iq>")
				fc.readStanza()
			},
			check: is(ErrBadServer),
		},
		{
			name: "stream header replaced by garbage",
			script: func(fc *fakeConn) {
				fc.readHeader()
				fc.send("HTTP/1.1 400 Bad Request\r\n\r\n")
				fc.readStanza()
			},
			check: is(ErrBadServer),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			fs := newFakeServer(t, func(_ int, fc *fakeConn) { tc.script(fc) })
			c := &Component{Addr: fs.addr(), Domain: testDomain, Secret: testSecret,
				HandshakeTimeout: 300 * time.Millisecond, Logger: quietLogger()}
			if err := c.init(); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			s, err := c.connect(c.slots[0])
			if s != nil {
				s.conn.Close()
			}
			tc.check(t, err)
			if got := IsPermanent(err); got != tc.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			if el := time.Since(t0); el > 2*time.Second {
				t.Fatalf("handshake took %v", el)
			}
			fs.close()
		})
	}
}

// Run returns a permanent error at once, without a retry loop.
func TestRunPermanentErrorNoRetry(t *testing.T) {
	for _, cond := range []string{"not-authorized", "host-unknown"} {
		t.Run(cond, func(t *testing.T) {
			checkGoroutines(t)
			fs := newFakeServer(t, func(_ int, fc *fakeConn) {
				fc.readHeader()
				fc.sendHeader("abc")
				fc.readHandshake()
				fc.send(streamError(cond, ""))
			})
			c := &Component{Addr: fs.addr(), Domain: testDomain, Secret: "wrong", Logger: quietLogger(),
				BackoffBase: time.Millisecond}
			err := c.Run(context.Background())
			var se *stream.Error
			if !errors.As(err, &se) || string(se.Condition) != cond || !se.Remote {
				t.Fatalf("Run = %v, want remote stream error %s", err, cond)
			}
			if n := fs.n.Load(); n != 1 {
				t.Fatalf("%d connection attempts, want 1", n)
			}
			if st := c.Stats(); st.State != StateClosed || st.Connects != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// conflict is retried with backoff until the server accepts.
func TestRunConflictRetries(t *testing.T) {
	checkGoroutines(t)
	var times []time.Time
	var mu sync.Mutex
	accepted := make(chan struct{})
	fs := newFakeServer(t, func(n int, fc *fakeConn) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n <= 3 {
			fc.readHeader()
			fc.sendHeader("abc")
			fc.readHandshake()
			fc.send(streamError("conflict", "Component already connected"))
			return
		}
		if fc.accept() {
			close(accepted)
			fc.readStanza()
		}
	})
	c := &Component{Addr: fs.addr(), Domain: testDomain, Secret: testSecret, Logger: quietLogger(),
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	wait := runComponent(t, ctx, c)
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("never accepted")
	}
	waitFor(t, "connected", time.Second, func() bool { return c.Stats().State == StateConnected })
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Delays: attempt k waits in [base·2^k/2, base·2^k].
	for k := 1; k < len(times); k++ {
		gap := times[k].Sub(times[k-1])
		lo := 20 * time.Millisecond << (k - 1) / 2
		if gap < lo {
			t.Errorf("retry %d after %v, want at least %v", k, gap, lo)
		}
	}
	if st := c.Stats(); st.Connects != 1 || !errors.Is(st.LastError, stream.ErrConflict) {
		t.Fatalf("stats %+v", st)
	}
}

func TestBackoffDelay(t *testing.T) {
	max := func(n int64) int64 { return n - 1 }
	min := func(int64) int64 { return 0 }
	base, cap := 100*time.Millisecond, time.Second
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		if got := backoffDelay(base, cap, n, max); got != want {
			t.Errorf("attempt %d: max delay %v, want %v", n, got, want)
		}
		if got := backoffDelay(base, cap, n, min); got != want/2 {
			t.Errorf("attempt %d: min delay %v, want %v", n, got, want/2)
		}
	}
	if got := backoffDelay(base, cap, 1000, max); got != cap {
		t.Errorf("huge attempt: %v", got)
	}
}

// FuzzHandshake feeds arbitrary server answers to the handshake: it must
// end with success or a typed error (never a panic, never an untyped one).
func FuzzHandshake(f *testing.F) {
	f.Add([]byte(hdrStart + "xmlns='jabber:component:accept' from='svc.example.test' id='abc'><handshake/>"))
	f.Add([]byte("<?xml version='1.0'?><stream:stream xml:lang='en' from='svc.example.test' id='1b3075a7-9071-4e3d-a8b5-d0e7b1b4f7a2' xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>" + streamError("not-authorized", "Given token does not match calculated token")))
	f.Add([]byte("<?xml version='1.0'?><stream:stream id='16413661769077744109' xml:lang='en' xmlns:stream='http://etherx.jabber.org/streams' from='svc.example.test' xmlns='jabber:component:accept'><handshake/>"))
	f.Add([]byte(hdrStart + "xmlns='jabber:component:accept' version='1.0' id=''>" + streamError("host-unknown", "")))
	f.Add([]byte(hdrStart + "xmlns='jabber:client' id='x'>"))
	f.Add([]byte("<stream:stream>"))
	f.Add([]byte(hdrStart + "xmlns='jabber:component:accept' id='a'><handshake>x</handshake>"))
	f.Add([]byte(hdrStart + "xmlns='jabber:component:accept' id='a'><!-- c --><handshake/>"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		c := &Component{Addr: "pipe", Domain: testDomain, Secret: testSecret,
			HandshakeTimeout: 2 * time.Second, Logger: quietLogger()}
		var wg sync.WaitGroup
		c.dialHook = func(ctx context.Context) (net.Conn, error) {
			client, server := net.Pipe()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer server.Close()
				rd := stream.NewReader(server, stream.ReaderOptions{})
				if _, err := rd.ReadHeader(); err != nil {
					return
				}
				go io.Copy(io.Discard, server) // the <handshake/> and the rest
				server.Write(answer)
			}()
			return client, nil
		}
		if err := c.init(); err != nil {
			t.Fatal(err)
		}
		s, err := c.connect(c.slots[0])
		if s != nil {
			s.conn.Close()
		}
		wg.Wait()
		var se *stream.Error
		switch {
		case err == nil:
		case errors.Is(err, ErrBadServer), errors.Is(err, ErrDisconnected):
		case errors.As(err, &se) && se.Remote:
		default:
			t.Fatalf("untyped handshake error %T: %v", err, err)
		}
	})
}

// The secret, and the digest that proves it, never reach the logs.
func TestSecretNeverLogged(t *testing.T) {
	const secret = "very-secret-42"
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fs := newPipeServer(t, func(n int, fc *fakeConn) {
		fc.readHeader()
		fc.sendHeader("sid")
		got, _ := fc.readHandshake()
		if n == 1 || got != handshakeDigest("sid", secret) {
			fc.send(streamError("conflict", ""))
			return
		}
		fc.send("<handshake/>")
		fc.serveUntilClose(nil)
	})
	c := newTestComponent(fs, nil)
	c.Secret = secret
	c.Logger = logger
	wait := runComponent(t, context.Background(), c)
	waitFor(t, "connected", 5*time.Second, func() bool { return c.Stats().State == StateConnected })
	closeOK(t, c, wait)
	mu.Lock()
	defer mu.Unlock()
	logs := buf.String()
	if logs == "" {
		t.Fatal("nothing logged")
	}
	if strings.Contains(logs, secret) || strings.Contains(logs, handshakeDigest("sid", secret)) {
		t.Fatalf("secret or digest in the logs:\n%s", logs)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
