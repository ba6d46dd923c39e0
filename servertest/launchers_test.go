package servertest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ircConn is a line-oriented IRC client for the smoke tests.
type ircConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func newIRC(t testing.TB, c net.Conn) *ircConn {
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	return &ircConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (i *ircConn) send(lines ...string) {
	i.t.Helper()
	for _, l := range lines {
		if _, err := i.c.Write([]byte(l + "\r\n")); err != nil {
			i.t.Fatalf("send %q: %v", l, err)
		}
	}
}

// until reads lines until one satisfies ok and returns it.
func (i *ircConn) until(what string, ok func(string) bool) string {
	i.t.Helper()
	for {
		line, err := i.r.ReadString('\n')
		if err != nil {
			i.t.Fatalf("waiting for %s: %v", what, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "PING ") {
			i.send("PONG " + line[5:])
			continue
		}
		if strings.HasPrefix(line, "ERROR") {
			i.t.Fatalf("waiting for %s: server said %q", what, line)
		}
		if ok(line) {
			return line
		}
	}
}

// register sends NICK/USER (after caps, if any) and waits for 001.
func (i *ircConn) register(server, nick string, caps ...string) {
	i.t.Helper()
	if len(caps) > 0 {
		i.send("CAP LS 302")
	}
	i.send("NICK "+nick, "USER "+nick+" 0 * :servertest")
	if len(caps) > 0 {
		ls := i.until("CAP LS", func(l string) bool { return strings.Contains(l, " CAP * LS ") })
		for _, c := range caps {
			if !strings.Contains(ls+" ", " "+c+" ") && !strings.Contains(ls, ":"+c+" ") {
				i.t.Errorf("capability %s not offered: %s", c, ls)
			}
		}
		i.send("CAP REQ :" + strings.Join(caps, " "))
		i.until("CAP ACK", func(l string) bool { return strings.Contains(l, " CAP ") && strings.Contains(l, " ACK ") })
		i.send("CAP END")
	}
	i.until("001", func(l string) bool { return strings.Contains(l, ":"+server+" 001 "+nick+" ") })
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	s := Postgres(t, PostgresOptions{Databases: []string{"pubsub"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !strings.HasPrefix(s.URL, "postgres://postgres@127.0.0.1:") {
		t.Errorf("URL %q", s.URL)
	}
	// The server answers real SQL, and the database asked for exists.
	if _, err := pgQuery(ctx, s.Addr, PostgresUser, "pubsub", "CREATE TABLE items (id text PRIMARY KEY, body text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgQuery(ctx, s.Addr, PostgresUser, "pubsub", "INSERT INTO items VALUES ('a', 'hello')"); err != nil {
		t.Fatal(err)
	}
	rows, err := pgQuery(ctx, s.Addr, PostgresUser, "pubsub", "SELECT id, body, current_setting('server_version_num')::int >= 150000 FROM items")
	if err != nil || len(rows) != 1 || rows[0][0] != "a" || rows[0][1] != "hello" || rows[0][2] != "t" {
		t.Fatalf("rows %q, %v", rows, err)
	}
	// A bad statement is the server's error, with its SQLSTATE.
	_, err = pgQuery(ctx, s.Addr, PostgresUser, "pubsub", "SELECT * FROM nosuchtable")
	var pe *pgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Errorf("bad query: %v", err)
	}
	// It listens on loopback only, and on its socket directory.
	if fi, err := os.Stat(s.SocketDir + "/.s.PGSQL." + s.Addr[strings.LastIndexByte(s.Addr, ':')+1:]); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("no Unix socket in %s: %v", s.SocketDir, err)
	}
	if os.Geteuid() == 0 {
		if u, ok := procOwner(s.Pid()); !ok || u == 0 {
			t.Errorf("postmaster runs as uid %d (ok %v), want the postgres user", u, ok)
		}
	}
	// Data survive a kill and a start on the same port.
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	rows, err = pgQuery(ctx, s.Addr, PostgresUser, "pubsub", "SELECT body FROM items WHERE id = 'a'")
	if err != nil || len(rows) != 1 || rows[0][0] != "hello" {
		t.Fatalf("after kill and start: %q, %v", rows, err)
	}
	start, stop := s.Timings()
	t.Logf("postgres: restart ready in %v (previous stop %v)", start, stop)
}

func TestSharedPostgres(t *testing.T) {
	t.Parallel()
	s := Shared(t, KindPostgres)
	a, b := s.Database(t), s.Database(t)
	if a == b || !strings.HasPrefix(a, "postgres://postgres@"+s.Addr+"/t_") {
		t.Fatalf("databases %q %q", a, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := a[strings.LastIndexByte(a, '/')+1 : strings.IndexByte(a, '?')]
	if _, err := pgQuery(ctx, s.Addr, PostgresUser, db, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err == nil {
		t.Error("Stop on a shared server succeeded")
	}
	if _, err := s.CreateDatabase("bad name"); err == nil {
		t.Error("CreateDatabase took a name that is not an identifier")
	}
}

// procOwner returns the real uid of pid from /proc.
func procOwner(pid int) (uid int, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Uid:" {
			u, err := strconv.Atoi(f[1])
			return u, err == nil
		}
	}
	return 0, false
}

func TestInspircd(t *testing.T) {
	t.Parallel()
	s := Inspircd(t, InspircdOptions{TLS: true})
	caps := []string{"message-tags", "server-time", "echo-message", "batch", "labeled-response"}

	// Plain: the IRCv3 capabilities, and a message echoed with time,
	// msgid and the label.
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := newIRC(t, c)
	a.register(s.Domain, "alice", caps...)
	a.send("JOIN #t", "@label=l1 PRIVMSG #t :hello")
	echo := a.until("echo", func(l string) bool { return strings.Contains(l, " PRIVMSG #t :hello") })
	for _, tag := range []string{"time=", "msgid=", "label=l1"} {
		if !strings.Contains(strings.SplitN(echo, " ", 2)[0], tag) {
			t.Errorf("echo %q lacks the %s tag", echo, tag)
		}
	}

	// TLS with the throwaway CA, and the pinned fingerprint.
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.TLSAddr,
		&tls.Config{RootCAs: s.CertPool(), ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS verified with the CA: %v", err)
	}
	defer tc.Close()
	leaf := tc.ConnectionState().PeerCertificates[0]
	if sum := sha256.Sum256(leaf.Raw); hex.EncodeToString(sum[:]) != s.CertSHA256() || leaf.IsCA {
		t.Errorf("leaf fingerprint %x, CertSHA256 %s, IsCA %v", sum, s.CertSHA256(), leaf.IsCA)
	}
	b := newIRC(t, tc)
	b.register(s.Domain, "bob")
	b.send("JOIN #t")
	b.until("join", func(l string) bool { return strings.Contains(l, "JOIN") && strings.Contains(l, "#t") })
	a.send("PRIVMSG #t :over tls")
	b.until("message over TLS", func(l string) bool { return strings.Contains(l, "PRIVMSG #t :over tls") })

	// A client that trusts another CA refuses the server.
	if _, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}); err == nil {
		t.Error("TLS verified without the CA")
	}

	// STARTTLS (the tls capability) on the plain port.
	p, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pc := newIRC(t, p)
	pc.send("STARTTLS")
	pc.until("670", func(l string) bool { return strings.Contains(l, " 670 ") })
	st := tls.Client(p, &tls.Config{RootCAs: s.CertPool(), ServerName: "localhost"})
	if err := st.Handshake(); err != nil {
		t.Fatalf("STARTTLS handshake: %v", err)
	}
	newIRC(t, st).register(s.Domain, "carol")
}

func TestNgircdTLS(t *testing.T) {
	t.Parallel()
	s := Ngircd(t, NgircdOptions{TLS: true})
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.TLSAddr,
		&tls.Config{RootCAs: s.CertPool(), ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS verified with the CA: %v", err)
	}
	defer tc.Close()
	if sum := sha256.Sum256(tc.ConnectionState().PeerCertificates[0].Raw); hex.EncodeToString(sum[:]) != s.CertSHA256() {
		t.Errorf("fingerprint %x, want %s", sum, s.CertSHA256())
	}
	a := newIRC(t, tc)
	a.register(s.Domain, "alice")
	a.send("JOIN #t")
	a.until("join", func(l string) bool { return strings.Contains(l, "JOIN") })
	// The plain port serves too, and both reach one network.
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newIRC(t, c)
	b.register(s.Domain, "bob")
	b.send("PRIVMSG #t :plain to tls")
	a.until("message", func(l string) bool { return strings.Contains(l, "PRIVMSG #t :plain to tls") })
	if _, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}); err == nil {
		t.Error("TLS verified without the CA")
	}
	// The certificate is for localhost and 127.0.0.1, not other names.
	if _, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{RootCAs: s.CertPool(), ServerName: "irc.example.org"}); err == nil {
		t.Error("TLS verified for a name the certificate does not carry")
	}
}

// sasl tries SASL PLAIN (IRCv3 SASL 3.1) as user with password and returns
// the numeric that ended it (903 success, 904 failure).
func sasl(t *testing.T, addr, nick, user, password string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	end, _ := authenticate(t, c, nick, "PLAIN", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)))
	return strings.Fields(end)[1]
}

// authenticate registers as nick on c with SASL (IRCv3 SASL 3.1): the
// mechanism mech and one response. It returns the line that ended the
// exchange (903 success, 904 failure) and the 900 (logged in) line before
// it, if any.
func authenticate(t *testing.T, c net.Conn, nick, mech, response string) (end, loggedIn string) {
	t.Helper()
	i := newIRC(t, c)
	i.send("CAP LS 302", "NICK "+nick, "USER "+nick+" 0 * :servertest")
	ls := i.until("CAP LS", func(l string) bool { return strings.Contains(l, " CAP * LS ") })
	if !strings.Contains(ls, "sasl=") || !strings.Contains(ls, mech) {
		t.Fatalf("no sasl %s in %q", mech, ls)
	}
	i.send("CAP REQ :sasl")
	i.until("ACK", func(l string) bool { return strings.Contains(l, " ACK ") })
	i.send("AUTHENTICATE " + mech)
	// "AUTHENTICATE +", which InspIRCd writes as "AUTHENTICATE :+".
	i.until("AUTHENTICATE +", func(l string) bool {
		return strings.HasPrefix(l, "AUTHENTICATE ") && strings.TrimPrefix(l[len("AUTHENTICATE "):], ":") == "+"
	})
	i.send("AUTHENTICATE " + response)
	for {
		l := i.until("900, 903 or 904", func(l string) bool {
			f := strings.Fields(l)
			return len(f) > 1 && (f[1] == "900" || f[1] == "903" || f[1] == "904")
		})
		if strings.Fields(l)[1] != "900" {
			return l, loggedIn
		}
		loggedIn = l
	}
}

func TestInspircdSASL(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	s := Inspircd(t, InspircdOptions{SASL: true})
	t.Logf("InspIRCd + Anope up, 3 accounts registered: %v", time.Since(t0))
	t0 = time.Now()
	if got := sasl(t, s.Addr, "a1", "alice", "alicepw"); got != "903" {
		t.Errorf("alice with her password: %s, want 903", got)
	}
	if got := sasl(t, s.Addr, "a2", "alice", "wrong"); got != "904" {
		t.Errorf("alice with a wrong password: %s, want 904", got)
	}
	if got := sasl(t, s.Addr, "a3", "nobody", "x"); got != "904" {
		t.Errorf("an unknown account: %s, want 904", got)
	}
	t.Logf("three SASL attempts: %v", time.Since(t0))
	t0 = time.Now()
	// A crashed IRC server comes back, the services relink, and the
	// accounts are still there.
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := ircNickServ(ctx, s.Addr, nil, "")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("services did not relink: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("kill, start, services relinked: %v", time.Since(t0))
	if got := sasl(t, s.Addr, "b1", "bob", "bobpw"); got != "903" {
		t.Errorf("bob after the restart: %s, want 903", got)
	}
}
