package hostile

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/stream"
)

// TestUnauthenticatedPerAddress checks Config.MaxUnauthPerIP on both
// listeners: connections from one address that have not authenticated are
// bounded, the one over the limit gets policy-violation at once, and a slot
// is free again when one of them goes.
func TestUnauthenticatedPerAddress(t *testing.T) {
	r, err := router.New(router.Config{Secrets: map[string]string{"c.localhost": "s"}, Logger: discard,
		MaxUnauthPerIP: 2, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	}()
	ca, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, sa, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{ca.String(), sa.String()} {
		var idle []net.Conn
		for range 2 {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			idle = append(idle, nc)
		}
		time.Sleep(50 * time.Millisecond) // let the router count them
		refused := func() (bool, string) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(time.Second))
			rd := stream.NewReader(nc, stream.ReaderOptions{})
			if _, err := rd.ReadHeader(); err != nil {
				return false, err.Error()
			}
			_, err = rd.Next()
			return errorsIs(err, stream.ErrPolicyViolation), errString(err)
		}
		if ok, got := refused(); !ok {
			t.Errorf("%s: third unauthenticated connection: got %s, want policy-violation", addr, got)
		}
		idle[0].Close()
		time.Sleep(100 * time.Millisecond) // let the router notice the close
		if ok, got := refused(); ok {
			t.Errorf("%s: a slot should be free after a close, got %s", addr, got)
		}
		for _, nc := range idle {
			nc.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func errorsIs(err, target error) bool { return err != nil && errors.Is(err, target) }

func errString(err error) string {
	if err == nil {
		return "no error (the stream went on)"
	}
	return err.Error()
}

// TestUnauthenticatedInAll checks Config.MaxUnauth: connections that have
// not authenticated are bounded across addresses and both listeners
// together (here 3: two on the XEP-0114 listener and one on the client
// listener fill it), the one over the limit gets policy-violation on either
// listener even from an address under its own limit, and a slot is free
// again when one goes.
func TestUnauthenticatedInAll(t *testing.T) {
	r, err := router.New(router.Config{Secrets: map[string]string{"c.localhost": "s"}, Logger: discard,
		MaxUnauth: 3, MaxUnauthPerIP: 100, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	}()
	ca, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, sa, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var idle []net.Conn
	defer func() {
		for _, nc := range idle {
			nc.Close()
		}
	}()
	for _, addr := range []string{ca.String(), ca.String(), sa.String()} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, nc)
	}
	time.Sleep(50 * time.Millisecond) // let the router count them
	// From another loopback address than the idle ones: the per-address
	// limit is far, the global one is reached.
	refused := func(addr string) (bool, string) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(time.Second))
		rd := stream.NewReader(nc, stream.ReaderOptions{})
		if _, err := rd.ReadHeader(); err != nil {
			return false, err.Error()
		}
		_, err = rd.Next()
		return errorsIs(err, stream.ErrPolicyViolation), errString(err)
	}
	for _, addr := range []string{ca.String(), sa.String()} {
		if ok, got := refused(addr); !ok {
			t.Errorf("%s: fourth unauthenticated connection: got %s, want policy-violation", addr, got)
		}
	}
	idle[0].Close()
	time.Sleep(100 * time.Millisecond) // let the router notice the close
	if ok, got := refused(sa.String()); ok {
		t.Errorf("a slot should be free after a close, got %s", got)
	}
}
