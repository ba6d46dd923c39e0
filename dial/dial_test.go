package dial

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeResolver answers SRV lookups from a table; a missing key is NXDOMAIN.
type fakeResolver struct {
	mu      sync.Mutex
	records map[string][]*net.SRV
	errs    map[string]error
	asked   []string
}

func (f *fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	f.mu.Lock()
	f.asked = append(f.asked, key)
	f.mu.Unlock()
	if err := f.errs[key]; err != nil {
		return "", nil, err
	}
	recs, ok := f.records[key]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
	}
	return key, recs, nil
}

// listener accepts connections on loopback and counts them; with cfg set it
// speaks TLS and records the negotiated SNI and ALPN.
type listener struct {
	net.Listener
	port uint16
	mu   sync.Mutex
	n    int
	sni  []string
	alpn []string
	wg   sync.WaitGroup
}

func listen(t *testing.T, cfg *tls.Config) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{Listener: ln, port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.n++
			l.mu.Unlock()
			if cfg != nil {
				tc := tls.Server(c, cfg)
				if err := tc.Handshake(); err == nil {
					st := tc.ConnectionState()
					l.mu.Lock()
					l.sni = append(l.sni, st.ServerName)
					l.alpn = append(l.alpn, st.NegotiatedProtocol)
					l.mu.Unlock()
				}
				c = tc
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); l.wg.Wait() })
	return l
}

func (l *listener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return p
}

func selfSigned(t *testing.T, names ...string) (server *tls.Config, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{ALPNClient},
	}, pool
}

func srv(target string, port uint16, prio, weight uint16) *net.SRV {
	return &net.SRV{Target: target, Port: port, Priority: prio, Weight: weight}
}

func TestDialContextPlain(t *testing.T) {
	l := listen(t, nil)
	d := &Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func TestDialContextTLS(t *testing.T) {
	scfg, pool := selfSigned(t, "127.0.0.1", "example.test")
	l := listen(t, scfg)
	d := &Dialer{Timeout: 2 * time.Second, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "example.test"}}
	c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Wrong root: the handshake fails and the error says so.
	_, other := selfSigned(t, "example.test")
	d.TLSConfig = &tls.Config{RootCAs: other, ServerName: "example.test"}
	if _, err := d.DialContext(context.Background(), "tcp", l.Addr().String()); err == nil {
		t.Fatal("handshake with unknown root succeeded")
	} else if !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Fatalf("err = %v, want certificate verification error", err)
	}
}

func TestDialContextTimeoutAndCancel(t *testing.T) {
	// A listener that never completes TLS: the handshake must hit Timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	d := &Dialer{Timeout: 100 * time.Millisecond, TLSConfig: &tls.Config{ServerName: "x"}}
	start := time.Now()
	_, err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("timeout took %v", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.TLSConfig = nil
	if _, err := d.DialContext(ctx, "tcp", ln.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	ln.Close()
	<-done
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
}

func TestLookupClient(t *testing.T) {
	tests := []struct {
		name    string
		records map[string][]*net.SRV
		errs    map[string]error
		noTLS   bool
		want    []Target // with a fixed rand returning 0
		wantErr error
	}{
		{
			name: "no records falls back to domain:5222",
			want: []Target{{Host: "example.test", Port: 5222}},
		},
		{
			name: "lookup failure counts as no records",
			errs: map[string]error{"_xmpp-client._tcp.example.test": errors.New("servfail")},
			want: []Target{{Host: "example.test", Port: 5222}},
		},
		{
			name: "starttls only",
			records: map[string][]*net.SRV{"_xmpp-client._tcp.example.test": {
				srv("b.example.test.", 5222, 20, 0), srv("a.example.test.", 5223, 10, 0)}},
			want: []Target{{Host: "a.example.test", Port: 5223, Priority: 10}, {Host: "b.example.test", Port: 5222, Priority: 20}},
		},
		{
			name: "merged by priority",
			records: map[string][]*net.SRV{
				"_xmpp-client._tcp.example.test":  {srv("plain.example.test.", 5222, 5, 0)},
				"_xmpps-client._tcp.example.test": {srv("tls.example.test.", 443, 1, 0), srv("tls2.example.test.", 5223, 9, 0)},
			},
			want: []Target{
				{Host: "tls.example.test", Port: 443, DirectTLS: true, Priority: 1},
				{Host: "plain.example.test", Port: 5222, Priority: 5},
				{Host: "tls2.example.test", Port: 5223, DirectTLS: true, Priority: 9},
			},
		},
		{
			name: "NoDirectTLS skips xmpps",
			records: map[string][]*net.SRV{
				"_xmpp-client._tcp.example.test":  {srv("plain.example.test.", 5222, 5, 0)},
				"_xmpps-client._tcp.example.test": {srv("tls.example.test.", 443, 1, 0)},
			},
			noTLS: true,
			want:  []Target{{Host: "plain.example.test", Port: 5222, Priority: 5}},
		},
		{
			name: "xmpps dot: no direct TLS, xmpp records used",
			records: map[string][]*net.SRV{
				"_xmpps-client._tcp.example.test": {srv(".", 0, 0, 0)},
				"_xmpp-client._tcp.example.test":  {srv("plain.example.test.", 5222, 0, 0)},
			},
			want: []Target{{Host: "plain.example.test", Port: 5222}},
		},
		{
			name: "xmpps dot and no xmpp records: no fallback",
			records: map[string][]*net.SRV{
				"_xmpps-client._tcp.example.test": {srv(".", 0, 0, 0)},
			},
			wantErr: ErrServiceUnavailable,
		},
		{
			name: "xmpp dot: decidedly not available",
			records: map[string][]*net.SRV{
				"_xmpp-client._tcp.example.test": {srv(".", 0, 0, 0)},
			},
			wantErr: ErrServiceUnavailable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeResolver{records: tc.records, errs: tc.errs}
			d := &Dialer{Resolver: r, NoDirectTLS: tc.noTLS}
			got, err := d.LookupClient(context.Background(), "example.test")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestOrderSRVWeights(t *testing.T) {
	// Within one priority, weight 90 vs 10 vs 0: the first pick should follow
	// the weights. Seeded source, so the test is deterministic.
	r := mrand.New(mrand.NewPCG(1, 2))
	first := map[string]int{}
	const n = 20000
	for range n {
		ts := []Target{
			{Host: "zero", Priority: 1, Weight: 0},
			{Host: "ten", Priority: 1, Weight: 10},
			{Host: "ninety", Priority: 1, Weight: 90},
			{Host: "late", Priority: 2, Weight: 1000},
		}
		OrderSRV(ts, r.IntN)
		if ts[3].Host != "late" {
			t.Fatalf("priority 2 not last: %v", ts)
		}
		first[ts[0].Host]++
	}
	// Expected shares: ninety 90/101, ten 10/101, zero 1/101.
	check := func(host string, want float64) {
		got := float64(first[host]) / n
		if got < want*0.85 || got > want*1.15 {
			t.Errorf("%s first %.4f of the time, want about %.4f", host, got, want)
		}
	}
	check("ninety", 90.0/101)
	check("ten", 10.0/101)
	check("zero", 1.0/101)
}

func TestOrderSRVAllZeroIsShuffled(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	seen := map[string]bool{}
	for range 200 {
		ts := []Target{{Host: "a"}, {Host: "b"}, {Host: "c"}}
		OrderSRV(ts, r.IntN)
		seen[ts[0].Host] = true
	}
	if len(seen) != 3 {
		t.Fatalf("zero-weight records not shuffled: first picks %v", seen)
	}
}

func TestDialClientTriesInOrder(t *testing.T) {
	good := listen(t, nil)
	dead := closedPort(t)
	r := &fakeResolver{records: map[string][]*net.SRV{
		"_xmpp-client._tcp.example.test": {srv("127.0.0.1.", dead, 1, 0), srv("127.0.0.1.", good.port, 2, 0)},
	}}
	d := &Dialer{Resolver: r, Timeout: time.Second}
	c, tgt, err := d.DialClient(context.Background(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	readHi(t, c)
	if tgt.Port != good.port || tgt.DirectTLS {
		t.Fatalf("reached %+v, want plain port %d", tgt, good.port)
	}
	if got := good.count(); got != 1 {
		t.Fatalf("good listener saw %d connections", got)
	}
}

func TestDialClientDirectTLS(t *testing.T) {
	scfg, pool := selfSigned(t, "example.test")
	tl := listen(t, scfg)
	plain := listen(t, nil)
	r := &fakeResolver{records: map[string][]*net.SRV{
		"_xmpps-client._tcp.example.test": {srv("127.0.0.1.", tl.port, 1, 0)},
		"_xmpp-client._tcp.example.test":  {srv("127.0.0.1.", plain.port, 2, 0)},
	}}
	d := &Dialer{Resolver: r, Timeout: 2 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}}
	c, tgt, err := d.DialClient(context.Background(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	readHi(t, c)
	if !tgt.DirectTLS {
		t.Fatalf("reached %+v, want direct TLS", tgt)
	}
	tl.mu.Lock()
	sni, alpn := tl.sni, tl.alpn
	tl.mu.Unlock()
	if len(sni) != 1 || sni[0] != "example.test" || alpn[0] != ALPNClient {
		t.Fatalf("SNI %v ALPN %v, want example.test / %s", sni, alpn, ALPNClient)
	}
	if plain.count() != 0 {
		t.Fatal("plain target dialed although TLS target worked")
	}

	// When the TLS target's certificate does not verify, the next target
	// (plain) is tried.
	_, other := selfSigned(t, "example.test")
	d.TLSConfig = &tls.Config{RootCAs: other}
	c, tgt, err = d.DialClient(context.Background(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	readHi(t, c)
	if tgt.DirectTLS || tgt.Port != plain.port {
		t.Fatalf("reached %+v, want the plain fallback target", tgt)
	}
}

func TestDialClientFallback(t *testing.T) {
	// No SRV records: the only target is domain:5222 (RFC 6120 §3.2.2).
	d := &Dialer{Resolver: &fakeResolver{}}
	targets, err := d.LookupClient(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Addr() != "127.0.0.1:5222" || targets[0].DirectTLS {
		t.Fatalf("fallback targets %v, want [127.0.0.1:5222]", targets)
	}
	// DialClient dials exactly that address; a Control hook records it and
	// refuses, so no real port 5222 is touched.
	refused := errors.New("refused by test")
	var dialed []string
	d.NetDialer = &net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		dialed = append(dialed, address)
		return refused
	}}
	_, _, err = d.DialClient(context.Background(), "127.0.0.1")
	var de *DialError
	if !errors.As(err, &de) || len(de.Errs) != 1 || de.Errs[0].Target.Port != 5222 {
		t.Fatalf("err = %v, want DialError for 127.0.0.1:5222", err)
	}
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v, want to wrap the dial failure", err)
	}
	if len(dialed) != 1 || dialed[0] != "127.0.0.1:5222" {
		t.Fatalf("dialed %v", dialed)
	}
}

func TestDialClientAllFail(t *testing.T) {
	p1, p2 := closedPort(t), closedPort(t)
	r := &fakeResolver{records: map[string][]*net.SRV{
		"_xmpp-client._tcp.example.test": {srv("127.0.0.1.", p1, 1, 0), srv("127.0.0.1.", p2, 2, 0)},
	}}
	d := &Dialer{Resolver: r, Timeout: time.Second}
	_, _, err := d.DialClient(context.Background(), "example.test")
	var de *DialError
	if !errors.As(err, &de) {
		t.Fatalf("err = %T %v, want *DialError", err, err)
	}
	if len(de.Errs) != 2 {
		t.Fatalf("%d target errors, want 2 (no A/AAAA fallback after SRV)", len(de.Errs))
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("err does not unwrap to *net.OpError: %v", err)
	}
	for i, want := range []uint16{p1, p2} {
		if de.Errs[i].Target.Port != want {
			t.Fatalf("attempt %d on port %d, want %d", i, de.Errs[i].Target.Port, want)
		}
	}
	if s := err.Error(); !strings.Contains(s, strconv.Itoa(int(p1))) {
		t.Fatalf("error text %q lacks the target", s)
	}
}

// readHi reads the listener's greeting (so the server side has finished its
// bookkeeping) and closes c.
func readHi(t *testing.T, c net.Conn) {
	t.Helper()
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("greeting %q, %v", buf, err)
	}
}
