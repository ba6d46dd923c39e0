package hostile

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/component"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/ping"
	"xmppkit.dev/router"
	"xmppkit.dev/router/c2s"
	"xmppkit.dev/stream"
)

// Fixed names of the test world.
const (
	serverDomain     = "localhost"
	goodDomain       = "good.localhost"
	goodSecret       = "good-secret"
	evilSecret       = "evil-secret"
	password         = "correct horse battery staple"
	maxElement       = 64 << 10
	handshakeTimeout = 1500 * time.Millisecond
	probeID          = "alive-probe"
	streamsNS        = "http://etherx.jabber.org/streams"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// target is where a catalogue case is sent.
type target int

const (
	toComponentListener target = iota // the router's XEP-0114 listener
	toC2SListener                     // the router's client listener
	toComponent                       // an xmppkit component, from a fake server
)

var targets = []target{toComponentListener, toC2SListener, toComponent}

func (t target) String() string {
	return [...]string{"router XEP-0114", "router c2s", "component"}[t]
}

// kind is the class of a peer's reaction to a case.
type kind int

const (
	streamError kind = iota // stream error with cond, stream closed (a component closes and reports it)
	stanzaError             // error reply with cond, and the stream lives on
	alive                   // no error, and the stream lives on
	closed                  // closed without a stream error of ours (EOF, the peer's own error)
	failed                  // the harness could not tell (timeout, setup failure)
)

// want is an expected or observed reaction.
type want struct {
	kind kind
	cond string
}

func (w want) String() string {
	switch w.kind {
	case streamError:
		return "stream " + w.cond
	case stanzaError:
		return "stanza " + w.cond + ", alive"
	case alive:
		return "alive"
	case closed:
		return "closed"
	}
	return "FAILED " + w.cond
}

func streamErr(c stream.Condition) want { return want{streamError, string(c)} }

var (
	stayAlive  = want{kind: alive}
	justClosed = want{kind: closed}
)

// params fill a case's placeholders for one target and run.
type params struct {
	ns, wrongNS string // content namespace, and one the target refuses
	hto, ver    string // header attributes: addressing (to, or from+id) and version
	to, from    string // stanza addressing: who answers, a from the sender may use
	domain      string // the component domain of the run
}

func (p params) expand(s string) string {
	start := "<stream:stream xmlns='" + p.ns + "' xmlns:stream='" + streamsNS + "'" + p.hto + p.ver + ">"
	return strings.NewReplacer(
		"{hdr}", "<?xml version='1.0'?>"+start,
		"{start}", start,
		"{ns}", p.ns, "{wrongns}", p.wrongNS,
		"{hto}", p.hto, "{ver}", p.ver,
		"{to}", p.to, "{from}", p.from,
	).Replace(s)
}

func paramsFor(tg target, i int) params {
	switch tg {
	case toComponentListener:
		d := fmt.Sprintf("evil%d.localhost", i)
		return params{ns: stream.NSComponent, wrongNS: stream.NSClient, hto: " to='" + d + "'",
			to: serverDomain, from: d, domain: d}
	case toC2SListener:
		return params{ns: stream.NSClient, wrongNS: stream.NSComponent, hto: " to='" + serverDomain + "'",
			ver: " version='1.0'", to: serverDomain, from: "mallory@" + serverDomain}
	default:
		d := fmt.Sprintf("svc%d.localhost", i)
		return params{ns: stream.NSComponent, wrongNS: stream.NSClient, hto: " from='" + d + "' id='hostile-stream'",
			to: d, from: serverDomain, domain: d}
	}
}

// env is the router under attack, with a well-behaved component and client
// that must keep working whatever the cases do.
type env struct {
	r        *router.Router
	c2s      *c2s.Server
	compAddr string
	c2sAddr  string
	good     *component.Component
	client   *client.Client
	goodDone chan struct{} // closed when the good component's Run returns
}

func newEnv(t testing.TB, ncases int) *env {
	t.Helper()
	secrets := map[string]string{goodDomain: goodSecret}
	for i := range ncases {
		secrets[fmt.Sprintf("evil%d.localhost", i)] = evilSecret
	}
	r, err := router.New(router.Config{
		Domains: []string{serverDomain},
		Secrets: secrets,
		Users: map[string]string{
			"alice@" + serverDomain:   password,
			"mallory@" + serverDomain: password,
		},
		Logger:           discard,
		HandshakeTimeout: handshakeTimeout,
		Limits:           stream.Limits{MaxElement: maxElement},
		MaxUnauthPerIP:   1024, // the cases run in parallel from one address
		SlowTimeout:      time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{r: r}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if e.client != nil {
			e.client.Close(ctx)
		}
		if e.good != nil {
			e.good.Close(ctx)
			<-e.goodDone
		}
		if err := r.Close(ctx); err != nil {
			t.Errorf("router Close: %v", err)
		}
	})
	a, err := r.ListenComponents("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.compAddr = a.String()
	srv, ca, err := c2s.Listen(r, "127.0.0.1:0", c2s.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.c2s, e.c2sAddr = srv, ca.String()

	m := mux.New()
	ping.Handler{}.Register(m)
	e.good = &component.Component{Addr: e.compAddr, Domain: goodDomain, Secret: goodSecret, Handler: m,
		Logger: discard, BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	runDone := make(chan struct{})
	go func() { defer close(runDone); e.good.Run(context.Background()) }()
	e.goodDone = runDone
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for e.good.Stats().State != component.StateConnected {
		if ctx.Err() != nil {
			t.Fatalf("good component did not connect: %v", e.good.Stats().LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.client, err = client.Dial(ctx, e.c2sAddr, client.Config{
		JID: jid.MustParse("alice@" + serverDomain), Password: password,
		TLS: &tls.Config{RootCAs: srv.CertPool(), ServerName: serverDomain},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.roundTrip(); err != nil {
		t.Fatalf("well-behaved round trip before the cases: %v", err)
	}
	return e
}

// roundTrip sends a ping from the well-behaved client to the well-behaved
// component through the router (c2s → XEP-0114 → c2s).
func (e *env) roundTrip() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ping.Send(ctx, e.client, jid.MustParse(goodDomain))
}

// header returns a valid stream header for the target.
func header(p params) string { return p.expand("{hdr}") }

// handshakeDigest is the XEP-0114 §3 value.
func handshakeDigest(id, secret string) string {
	sum := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(sum[:])
}

// loginComponent opens an authenticated XEP-0114 stream as p.domain.
func loginComponent(addr string, p params) (net.Conn, *stream.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fail := func(err error) (net.Conn, *stream.Reader, error) { nc.Close(); return nil, nil, err }
	if _, err := io.WriteString(nc, header(p)); err != nil {
		return fail(err)
	}
	rd := stream.NewReader(nc, stream.ReaderOptions{})
	h, err := rd.ReadHeader()
	if err != nil {
		return fail(err)
	}
	if _, err := io.WriteString(nc, "<handshake>"+handshakeDigest(h.ID, evilSecret)+"</handshake>"); err != nil {
		return fail(err)
	}
	el, err := rd.Next()
	if err != nil {
		return fail(err)
	}
	if !el.Is(stream.NSComponent, "handshake") {
		return fail(fmt.Errorf("no <handshake/>: %s", el.Raw()))
	}
	nc.SetDeadline(time.Time{})
	return nc, rd, nil
}

// loginClient opens a client stream and negotiates STARTTLS, SASL PLAIN and
// resource binding by hand (RFC 6120 §5-§7).
func loginClient(addr string, pool *tls.Config, p params) (net.Conn, *stream.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fail := func(err error) (net.Conn, *stream.Reader, error) { nc.Close(); return nil, nil, err }
	var conn = nc
	rd := stream.NewReader(conn, stream.ReaderOptions{})
	open := func() error {
		if _, err := io.WriteString(conn, header(p)); err != nil {
			return err
		}
		if _, err := rd.ReadHeader(); err != nil {
			return err
		}
		_, err := rd.Next() // features
		return err
	}
	expect := func(space, local string) error {
		el, err := rd.Next()
		if err != nil {
			return err
		}
		if !el.Is(space, local) {
			return fmt.Errorf("want <%s/>, got %s", local, el.Raw())
		}
		return nil
	}
	if err := open(); err != nil {
		return fail(err)
	}
	if _, err := io.WriteString(conn, "<starttls xmlns='"+stream.NSTLS+"'/>"); err != nil {
		return fail(err)
	}
	if err := expect(stream.NSTLS, "proceed"); err != nil {
		return fail(err)
	}
	tc := tls.Client(nc, pool)
	if err := tc.Handshake(); err != nil {
		return fail(err)
	}
	conn = tc
	rd = stream.NewReader(conn, stream.ReaderOptions{})
	if err := open(); err != nil {
		return fail(err)
	}
	creds := base64.StdEncoding.EncodeToString([]byte("\x00mallory\x00" + password))
	if _, err := io.WriteString(conn, "<auth xmlns='"+stream.NSSASL+"' mechanism='PLAIN'>"+creds+"</auth>"); err != nil {
		return fail(err)
	}
	if err := expect(stream.NSSASL, "success"); err != nil {
		return fail(err)
	}
	rd = stream.NewReader(conn, stream.ReaderOptions{})
	if err := open(); err != nil {
		return fail(err)
	}
	if _, err := io.WriteString(conn, "<iq type='set' id='bind'><bind xmlns='"+stream.NSBind+"'/></iq>"); err != nil {
		return fail(err)
	}
	el, err := rd.Next()
	if err != nil {
		return fail(err)
	}
	if typ, _ := el.Attr("type"); typ != "result" {
		return fail(fmt.Errorf("bind: %s", el.Raw()))
	}
	nc.SetDeadline(time.Time{})
	return tc, rd, nil
}

// recorder keeps the last bytes read, to find a stream error that came
// without a stream header.
type recorder struct {
	r   io.Reader
	mu  sync.Mutex
	buf []byte
}

func (rc *recorder) Read(b []byte) (int, error) {
	n, err := rc.r.Read(b)
	rc.mu.Lock()
	rc.buf = append(rc.buf, b[:n]...)
	if len(rc.buf) > 64<<10 {
		rc.buf = append(rc.buf[:0], rc.buf[len(rc.buf)-32<<10:]...)
	}
	rc.mu.Unlock()
	return n, err
}

func (rc *recorder) bytes() []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]byte(nil), rc.buf...)
}

var rawCondition = regexp.MustCompile(`<stream:error><([a-z-]+) xmlns=['"]` + regexp.QuoteMeta(stream.NSStreamErrors))

// observe reads what the peer sends after a case (header first when
// needHeader) until the stream ends or the probe IQ is answered.
//
// linger, for a peer that answers stanzas concurrently (a component's
// handlers run in parallel shards), keeps reading that long after the probe's
// answer for a late error reply.
func observe(rd *stream.Reader, rec *recorder, needHeader bool, linger time.Duration, conn net.Conn) (want, string) {
	classify := func(err error) (want, string) {
		var se *stream.Error
		switch {
		case errors.As(err, &se) && se.Remote:
			return want{streamError, string(se.Condition)}, se.Text
		case errors.Is(err, io.EOF):
			return justClosed, "</stream:stream>"
		case errors.Is(err, os.ErrDeadlineExceeded):
			return want{failed, "timeout"}, "no reaction in time"
		}
		if m := rawCondition.FindSubmatch(rec.bytes()); m != nil {
			// A stream error our reader could not frame (sent without a
			// stream header, RFC 6120 §4.9.1.3).
			return want{streamError, string(m[1]) + " without header"}, err.Error()
		}
		return justClosed, err.Error()
	}
	if needHeader {
		if _, err := rd.ReadHeader(); err != nil {
			return classify(err)
		}
	}
	firstErr := ""
	answered := false
	var seen []string // stanzas before the probe's answer
	for {
		el, err := rd.Next()
		if answered && (err != nil || firstErr != "") {
			if firstErr != "" {
				return want{stanzaError, firstErr}, strings.Join(seen, " ")
			}
			return stayAlive, strings.Join(seen, " ")
		}
		if err != nil {
			return classify(err)
		}
		if !el.IsStanza() {
			continue
		}
		id, _ := el.Attr("id")
		typ, _ := el.Attr("type")
		if id == probeID {
			if typ != "result" {
				return want{failed, "probe"}, "probe answered: " + string(el.Raw())
			}
			if firstErr == "" && linger > 0 {
				conn.SetReadDeadline(time.Now().Add(linger))
				linger = 0
				answered = true
				continue
			}
			if firstErr != "" {
				return want{stanzaError, firstErr}, strings.Join(seen, " ")
			}
			return stayAlive, strings.Join(seen, " ")
		}
		if len(seen) < 4 {
			seen = append(seen, string(el.Raw()))
		}
		if typ == "error" && firstErr == "" {
			firstErr = "?"
			if st, _ := el.Stanza(); st != nil && st.Err() != nil {
				firstErr = string(st.Err().Condition)
			}
		}
	}
}

// probe is an IQ ping (XEP-0199) the peer must answer while its stream lives.
func probe(p params) string {
	from := ""
	if p.from == serverDomain { // from a fake server to a component
		from = " from='" + serverDomain + "'"
	}
	return "<iq type='get' id='" + probeID + "' to='" + p.to + "'" + from + "><ping xmlns='urn:xmpp:ping'/></iq>"
}
