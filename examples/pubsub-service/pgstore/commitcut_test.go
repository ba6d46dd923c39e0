package pgstore_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"xmppkit.dev/examples/pubsub-service/pgstore"
	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/servertest"
)

// Cut modes of a cutProxy.
const (
	cutNone   = iota
	cutBefore // drop the COMMIT and close: the transaction is rolled back
	cutAfter  // forward the COMMIT, close before its answer: it is made
)

// cutProxy forwards TCP connections to PostgreSQL and, when armed, cuts
// the next connection that sends COMMIT (pgx sends it as a simple Query
// message), once.
type cutProxy struct {
	ln   net.Listener
	to   string
	mode atomic.Int32
	wg   sync.WaitGroup
	mu   sync.Mutex
	open []net.Conn
}

var commitMsg = append([]byte{'Q', 0, 0, 0, 11}, "commit\x00"...)

func newCutProxy(t *testing.T, to string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, to: to}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.open {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.open = append(p.open, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(c, s)
			c.Close()
		}()
		go func() {
			defer p.wg.Done()
			defer s.Close()
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					chunk := buf[:n]
					if bytes.Contains(chunk, commitMsg) {
						switch m := p.mode.Load(); {
						case m == cutBefore && p.mode.CompareAndSwap(m, cutNone):
							return
						case m == cutAfter && p.mode.CompareAndSwap(m, cutNone):
							c.Close() // no answer reaches the client
							s.Write(chunk)
							time.Sleep(200 * time.Millisecond) // the server commits
							return
						}
					}
					if _, err := s.Write(chunk); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// TestCommitCut loses the connection exactly at COMMIT: before it reached
// the server (nothing is stored) and after (the item is stored). Either
// way Write fails (a publish is never acknowledged without a COMMIT that
// returned), with ErrOutcomeUnknown where the COMMIT was sent, and the
// next Write succeeds on a new connection.
func TestCommitCut(t *testing.T) {
	srv := servertest.Shared(t, servertest.KindPostgres)
	url := srv.Database(t)
	direct := open(t, url)
	create(t, direct, pubsub.Key{Node: "cut"})
	p := newCutProxy(t, srv.Addr)
	st := open(t, strings.Replace(url, srv.Addr, p.ln.Addr().String(), 1))
	k := pubsub.Key{Node: "cut"}
	put := func(id string) error {
		_, err := st.Write(ctx, func(tx pubsub.Tx) error {
			return tx.PutItem(k, &pubsub.Item{ID: id, Time: when, Payload: "<v xmlns='urn:v'/>"})
		})
		return err
	}
	stored := func(id string) bool {
		var ok bool
		if err := direct.Read(ctx, func(tx pubsub.Tx) error {
			_, err := tx.Item(k, id)
			ok = err == nil
			if errors.Is(err, pubsub.ErrNotFound) {
				err = nil
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, tc := range []struct {
		name   string
		mode   int32
		stored bool
	}{{"before", cutBefore, false}, {"after", cutAfter, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p.mode.Store(tc.mode)
			err := put(tc.name)
			if err == nil {
				t.Fatal("Write returned nil though the connection was cut at COMMIT")
			}
			if p.mode.Load() != cutNone {
				t.Fatal("the proxy saw no COMMIT")
			}
			if !errors.Is(err, pgstore.ErrOutcomeUnknown) || errors.Is(err, pubsub.ErrUnavailable) {
				t.Errorf("Write: %v, want ErrOutcomeUnknown (internal-server-error)", err)
			}
			got := stored(tc.name)
			for deadline := time.Now().Add(2 * time.Second); !got && tc.stored && time.Now().Before(deadline); got = stored(tc.name) {
				time.Sleep(10 * time.Millisecond) // the proxy is still forwarding the COMMIT
			}
			if got != tc.stored {
				t.Fatalf("stored after the cut: %v, want %v", got, tc.stored)
			}
			if err := put(tc.name + "-next"); err != nil {
				t.Fatalf("the Write after the cut: %v", err)
			}
			if !stored(tc.name + "-next") {
				t.Fatal("the Write after the cut is not stored")
			}
		})
	}
}
