package servertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Secret is the shared secret (XEP-0114 §3) of every component in
// [DefaultComponents].
const Secret = "s3cret"

// LocalDomain is the XMPP virtual host of every Prosody and ejabberd server
// started here.
const LocalDomain = "localhost"

// debianPackage names the Debian 12 package that provides each kind
// (scripts/deps.sh installs all of them).
var debianPackage = map[Kind]string{
	KindProsody:  "prosody",
	KindEjabberd: "ejabberd",
	KindNgircd:   "ngircd",
	KindSlixmpp:  "python3-slixmpp",
	KindInspircd: "inspircd",
	KindPostgres: "postgresql",
	KindAnope:    "anope",
}

// installHint is the end of the one line printed when software is missing.
func installHint(kind Kind) string {
	if pkg := debianPackage[kind]; pkg != "" {
		return "as root: apt-get install -y " + pkg + " (scripts/deps.sh installs all the tests use)"
	}
	return "as root: run scripts/deps.sh (it installs all the tests use)"
}

// Component is an external component the server accepts over XEP-0114: the
// domain it serves and the handshake secret (XEP-0114 §3).
type Component struct {
	Domain string
	Secret string
}

// User is a client account registered on the server, usable with SASL PLAIN
// or SCRAM-SHA-1 (RFC 6120 §6) as Name@Domain.
type User struct {
	Name     string
	Password string
}

// JID returns the bare JID (RFC 7622) of the user on domain.
func (u User) JID(domain string) string { return u.Name + "@" + domain }

// DefaultComponents returns the fixed component set of shared servers and of
// servers started with no Components option: c1.localhost … c8.localhost,
// pubsub.localhost and irc.localhost, all with secret [Secret].
func DefaultComponents() []Component {
	var cs []Component
	for i := 1; i <= 8; i++ {
		cs = append(cs, Component{Domain: "c" + strconv.Itoa(i) + "." + LocalDomain, Secret: Secret})
	}
	return append(cs,
		Component{Domain: "pubsub." + LocalDomain, Secret: Secret},
		Component{Domain: "irc." + LocalDomain, Secret: Secret})
}

// DefaultUsers returns the fixed accounts of shared servers and of servers
// started with no Users option: alice/alicepw, bob/bobpw, carol/carolpw.
func DefaultUsers() []User {
	return []User{{"alice", "alicepw"}, {"bob", "bobpw"}, {"carol", "carolpw"}}
}

// Kind names a piece of software this package can start or run.
type Kind string

// The kinds of software known to [Require] and [Shared].
const (
	KindProsody  Kind = "prosody"
	KindEjabberd Kind = "ejabberd"
	KindNgircd   Kind = "ngircd"
	KindSlixmpp  Kind = "slixmpp"
	KindInspircd Kind = "inspircd"
	KindPostgres Kind = "postgres"
	KindAnope    Kind = "anope" // IRC services, for SASL on InspIRCd
)

// Server is one running (or stopped) server process with its throwaway
// configuration. The exported fields never change after creation; ports and
// data survive [Server.Kill], [Server.Stop], [Server.Start] and
// [Server.Restart].
type Server struct {
	Name          string      // "prosody", "ejabberd", "ngircd", "inspircd" or "postgres"
	Domain        string      // XMPP virtual host ("localhost"), or the IRC server name
	C2SAddr       string      // client-to-server address (RFC 6120), host:port; XMPP only
	ComponentAddr string      // XEP-0114 component address, host:port; XMPP only
	HTTPAddr      string      // ejabberd's HTTP API (mod_http_api), host:port; ejabberd only
	Addr          string      // the one address of an IRC server (RFC 2812) or PostgreSQL, host:port
	TLSAddr       string      // IRC over TLS (RFC 7194), host:port; IRC servers started with TLS only
	URL           string      // PostgreSQL: connection URL of the "postgres" database (see Database)
	SocketDir     string      // PostgreSQL: the directory of its Unix socket
	Components    []Component // components the server accepts
	Users         []User      // registered client accounts
	CertFile      string      // PEM server certificate: XMPP servers' is self-signed (and a CA), IRC servers' is issued by CAFile
	KeyFile       string      // PEM private key of CertFile
	CAFile        string      // PEM throwaway CA that issued CertFile; IRC servers started with TLS only (see CertPool)
	LogFile       string      // the server's own log
	Dir           string      // the throwaway working directory

	spec    launchSpec
	helpers []*Server // processes that live and die with this one (Start, Stop), not with Kill

	mu           sync.Mutex
	proc         *process
	procSnapshot atomic.Pointer[process] // proc, readable without mu (signal path)
	started      bool                    // a first start succeeded (users registered)
	shared       atomic.Bool             // owned by Shared/StopShared
	startDur     time.Duration
	stopDur      time.Duration

	leaseMu sync.Mutex
	leased  map[string]bool
	freed   chan struct{} // closed and replaced whenever a lease ends
}

// launchSpec says how to run and probe one kind of server.
type launchSpec struct {
	path         string
	args         []string
	env          []string
	outLog       string              // stdout and stderr of the process
	termWait     time.Duration       // stop signal → SIGKILL deadline
	stopSignal   syscall.Signal      // the graceful stop; 0 means SIGTERM
	cred         *syscall.Credential // run as this user (root only); nil: as the caller
	readyTimeout time.Duration
	ready        func(ctx context.Context) error
	failed       func() error // optional: a fatal problem seen while waiting (log scan)
	beforeStart  func() error
	afterReady   func(first bool) error
}

type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once the process is reaped
	out  *os.File
}

// Pid returns the process id of the running server, or 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// Timings returns how long the last successful start took until the server
// was ready, and how long the last stop took until the process was gone.
func (s *Server) Timings() (startup, shutdown time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startDur, s.stopDur
}

// Start starts the server on its ports and data and waits until it is
// ready. It does nothing if the server is already running.
//
// The server's helpers (InspIRCd's services) are started too when they are
// not running.
func (s *Server) Start() error {
	s.mu.Lock()
	err := s.startLocked()
	s.mu.Unlock()
	for _, h := range s.helpers {
		if err != nil {
			break
		}
		err = h.Start()
	}
	return err
}

// Stop stops the server: SIGTERM, then SIGKILL after a deadline. Anything
// left in its process group is killed too. Stopping a stopped server does
// nothing.
func (s *Server) Stop() error {
	if err := s.notShared("Stop"); err != nil {
		return err
	}
	s.mu.Lock()
	err := s.stopLocked(true)
	s.mu.Unlock()
	for _, h := range s.helpers {
		err = errors.Join(err, h.Stop())
	}
	return err
}

// Kill stops the server with SIGKILL at once, as a crash would, for fault
// tests. The data stay; [Server.Start] brings it back.
func (s *Server) Kill() error {
	if err := s.notShared("Kill"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(false)
}

// Restart stops the server gracefully and starts it again on the same ports
// and data.
//
// Stop, Kill and Restart refuse to act on a server from [Shared]: other
// tests use it at the same time, and [Main] stops it.
func (s *Server) Restart() error {
	if err := s.notShared("Restart"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(true); err != nil {
		return err
	}
	return s.startLocked()
}

func (s *Server) notShared(op string) error {
	if s.shared.Load() {
		return fmt.Errorf("servertest: %s on the shared %s server: tests share it; start a private one with servertest.%s",
			op, s.Name, map[string]string{"prosody": "Prosody", "ejabberd": "Ejabberd", "ngircd": "Ngircd", "inspircd": "Inspircd", "postgres": "Postgres"}[s.Name])
	}
	return nil
}

// LogTail returns about the last n lines of the server's log and of its
// stdout/stderr, for error messages.
func (s *Server) LogTail(n int) string {
	var b strings.Builder
	files := []string{s.LogFile}
	if s.spec.outLog != s.LogFile {
		files = append(files, s.spec.outLog)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s (tail) ---\n%s", f, tailLines(data, n))
	}
	return b.String()
}

func tailLines(data []byte, n int) string {
	data = bytes.TrimRight(data, "\n")
	i := len(data)
	for ; n > 0 && i > 0; n-- {
		i = bytes.LastIndexByte(data[:i], '\n')
		if i < 0 {
			i = 0
		}
	}
	if i > 0 {
		i++
	}
	return string(data[i:]) + "\n"
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (s *Server) startLocked() error {
	if s.proc != nil {
		if !s.proc.exited() {
			return nil
		}
		// It died on its own: clear what is left of its process group.
		_ = s.stopLocked(false)
	}
	if s.spec.beforeStart != nil {
		// It may adjust s.spec (ejabberd builds its arguments here).
		if err := s.spec.beforeStart(); err != nil {
			return fmt.Errorf("servertest: %s: prepare start: %w", s.Name, err)
		}
	}
	sp := s.spec
	out, err := os.OpenFile(sp.outLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("servertest: %s: %w", s.Name, err)
	}
	t0 := time.Now()
	cmd := exec.Command(sp.path, sp.args...)
	cmd.Dir = s.Dir
	cmd.Env = sp.env
	cmd.Stdout = out // an *os.File: handed to the child as is, no copying goroutine
	cmd.Stderr = out
	// Own process group, so signals to the test binary's group do not reach
	// it and its leftovers can be killed as a group; SIGKILL if the test
	// binary dies without cleaning up. Go opens every fd close-on-exec, so
	// the child inherits only 0, 1 and 2.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: sp.cred}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("servertest: %s: start %s: %w", s.Name, sp.path, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), out: out}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	s.procSnapshot.Store(p)
	live.add(s)

	if err := s.waitReady(p, sp); err != nil {
		_ = s.stopLocked(false)
		return fmt.Errorf("servertest: %s did not become ready: %w\n%s", s.Name, err, s.LogTail(30))
	}
	if sp.afterReady != nil {
		if err := sp.afterReady(!s.started); err != nil {
			_ = s.stopLocked(false)
			return fmt.Errorf("servertest: %s: %w\n%s", s.Name, err, s.LogTail(30))
		}
	}
	s.started = true
	s.startDur = time.Since(t0)
	return nil
}

func (s *Server) waitReady(p *process, sp launchSpec) error {
	ctx, cancel := context.WithTimeout(context.Background(), sp.readyTimeout)
	defer cancel()
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("process exited early (%v)", p.cmd.ProcessState)
		}
		if sp.failed != nil {
			if err := sp.failed(); err != nil {
				return err
			}
		}
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		last = sp.ready(pctx)
		pcancel()
		if last == nil {
			if sp.failed != nil {
				return sp.failed()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", sp.readyTimeout, last)
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) stopLocked(graceful bool) error {
	p := s.proc
	if p == nil {
		return nil
	}
	t0 := time.Now()
	var err error
	if graceful && !p.exited() {
		sig := s.spec.stopSignal
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		_ = syscall.Kill(p.pid, sig)
		select {
		case <-p.done:
		case <-time.After(s.spec.termWait):
			err = fmt.Errorf("servertest: %s (pid %d) ignored %v for %v; killed", s.Name, p.pid, sig, s.spec.termWait)
		}
	}
	if !p.exited() {
		// Children that left the process group (PostgreSQL's backends
		// call setsid) are found by parent before the parent dies, and
		// killed with it: a killed postmaster's backends would otherwise
		// keep its shared memory, and the next start would fail.
		kids := childrenOf(p.pid)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		<-p.done
		if kerr := killPids(kids, 5*time.Second); kerr != nil && err == nil {
			err = fmt.Errorf("servertest: %s: %w", s.Name, kerr)
		}
	}
	if gerr := killGroup(p.pid, 5*time.Second); gerr != nil && err == nil {
		err = fmt.Errorf("servertest: %s: %w", s.Name, gerr)
	}
	s.reapLocked()
	s.stopDur = time.Since(t0)
	return err
}

func (s *Server) reapLocked() {
	if s.proc != nil {
		s.proc.out.Close()
		s.proc = nil
		s.procSnapshot.Store(nil)
	}
	live.remove(s)
}

// killGroup SIGKILLs whatever is left in process group pgid, whose leader
// (our child) is already reaped, and waits until no live member remains.
// Zombies count as dead: PID 1 may reap orphans only about once a second.
//
// The kernel does not hand out a pid again while a process group of that
// id has members; so if a live process now has pid pgid, the group is empty
// and the pid belongs to someone else: leave it alone.
func killGroup(pgid int, wait time.Duration) error {
	if pgid <= 1 || processAlive(pgid) {
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		members := groupMembers(pgid)
		if len(members) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process group %d still has live members %v", pgid, members)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(10 * time.Millisecond)
	}
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(pid int) []int {
	var kids []int
	for _, p := range procPids() {
		if data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); err == nil {
			if f := statFields(data); len(f) >= 2 && f[1] == strconv.Itoa(pid) && processAlive(p) {
				kids = append(kids, p)
			}
		}
	}
	return kids
}

// killPids SIGKILLs the processes and waits until none is alive.
func killPids(pids []int, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		var left []int
		for _, p := range pids {
			if processAlive(p) {
				_ = syscall.Kill(p, syscall.SIGKILL)
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still alive after SIGKILL", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procPids lists the pids in /proc.
func procPids() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// groupMembers lists the live (not zombie) processes whose process group is
// pgid, read from /proc/PID/stat.
func groupMembers(pgid int) []int {
	var pids []int
	for _, pid := range procPids() {
		state, pg, ok := procStat(pid)
		if ok && pg == pgid && state != 'Z' && state != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStat reads the state and the process group of pid from
// /proc/PID/stat.
func procStat(pid int) (state byte, pgrp int, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	return parseStat(data)
}

// parseStat extracts the state and the process group from the text of a
// /proc/PID/stat file (proc(5)): "pid (comm) S ppid pgrp ...", where comm
// may hold spaces and parentheses.
func parseStat(data []byte) (state byte, pgrp int, ok bool) {
	f := statFields(data)
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(f[2])
	if err != nil || pg < 0 {
		return 0, 0, false
	}
	return f[0][0], pg, true
}

// statFields returns the fields of a /proc/PID/stat text after the command
// name: state, ppid, pgrp, ...; nil when there is no command name.
func statFields(data []byte) []string {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// processAlive reports whether pid names a live process; a zombie is dead.
func processAlive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1 by binding port
// 0, then releases them for the server to take.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("servertest: pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// probeDomain is the domain the readiness probe names in its component
// stream header: a configured one if any (both servers answer an unknown
// one with a header too).
func (s *Server) probeDomain() string {
	if len(s.Components) > 0 {
		return s.Components[0].Domain
	}
	return "probe." + LocalDomain
}

// dialDeadline connects to addr over TCP, with the context's deadline (if
// any) as the connection's.
func dialDeadline(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return c, nil
}

// probeStream connects to addr, sends a stream header with the default
// namespace ns to domain to, and succeeds once the peer answers with a
// stream header of its own (RFC 6120 §4.2, XEP-0114 §3).
func probeStream(ctx context.Context, addr, ns, to string) error {
	c, err := dialDeadline(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	version := ""
	if ns == "jabber:client" {
		version = " version='1.0'"
	}
	hdr := "<?xml version='1.0'?><stream:stream xmlns='" + ns +
		"' xmlns:stream='http://etherx.jabber.org/streams' to='" + to + "'" + version + ">"
	if _, err := c.Write([]byte(hdr)); err != nil {
		return err
	}
	var buf []byte
	tmp := make([]byte, 1024)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if i := bytes.Index(buf, []byte("<stream:stream")); i >= 0 && bytes.IndexByte(buf[i:], '>') >= 0 {
			_, _ = c.Write([]byte("</stream:stream>"))
			return nil
		}
		if err != nil {
			if len(buf) > 0 {
				return fmt.Errorf("no stream header in reply %q: %w", buf, err)
			}
			return err
		}
		if len(buf) > 64<<10 {
			return errors.New("no stream header in the first 64 KiB")
		}
	}
}

// probeTLS succeeds once addr completes a TLS handshake (RFC 8446) with a
// certificate that pool verifies for 127.0.0.1.
func probeTLS(ctx context.Context, addr string, pool *x509.CertPool) error {
	d := tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// probeTCP succeeds once addr accepts a TCP connection.
func probeTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// findBin returns the path of an executable, looking in PATH and then in
// /usr/sbin and /usr/bin (a non-root PATH often lacks /usr/sbin).
func findBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// baseEnv is the small environment given to servers: no inherited
// LUA_PATH, ERL_FLAGS, PYTHONPATH or the like.
func baseEnv(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return []string{"PATH=" + path, "HOME=" + home, "LANG=C.UTF-8"}
}

// Require makes the test skip, or fail when the environment variable CI is
// "true", unless the software of kind is installed. The message is one line
// naming the missing software and the apt-get command that installs it.
func Require(t testing.TB, kind Kind) {
	t.Helper()
	if missing := missingSoftware(kind); missing != "" {
		msg := missing + " not installed; " + installHint(kind)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		} else {
			t.Skip(msg)
		}
	}
}

// missingSoftware names what is missing for kind, or returns "".
func missingSoftware(kind Kind) string {
	switch kind {
	case KindProsody:
		if findBin("prosody") == "" || findBin("prosodyctl") == "" {
			return "prosody"
		}
	case KindEjabberd:
		if findBin("erl") == "" || ejabberdLibDir() == "" {
			return "ejabberd"
		}
	case KindNgircd:
		if findBin("ngircd") == "" {
			return "ngircd"
		}
	case KindInspircd:
		if findBin("inspircd") == "" {
			return "inspircd"
		}
	case KindPostgres:
		if postgresBinDir() == "" {
			return "postgresql"
		}
	case KindAnope:
		if findBin("anope") == "" {
			return "anope"
		}
	case KindSlixmpp:
		if !slixmppInstalled() {
			return "slixmpp (python3-slixmpp for " + systemPython + ")"
		}
	default:
		return "unknown software kind " + strconv.Quote(string(kind))
	}
	return ""
}

// newDir makes a private working directory for one server.
func newDir(name string) (string, error) {
	dir, err := os.MkdirTemp("", "servertest-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("servertest: %w", err)
	}
	return dir, nil
}

// private starts a server for one test with mk and ties it to the test:
// it is stopped and its directory removed in t.Cleanup (kept if the test
// failed, for its logs).
func private(t testing.TB, kind Kind, mk func() (*Server, error)) *Server {
	t.Helper()
	Require(t, kind)
	s, err := mk()
	if err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, s.Stop, s.Dir, "log "+s.LogFile)
	return s
}

// stopAtEnd stops a server (or a cluster) with stop when t ends and
// removes its directory, which it keeps, saying where, when t failed.
func stopAtEnd(t testing.TB, stop func() error, dir, what string) {
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%v", err)
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("servertest: kept %s for inspection (%s)", dir, what)
		}
	})
}

// inParallel runs f(0) … f(n-1) at once and joins their errors.
func inParallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newXMPPServer makes the directory of a Prosody or ejabberd server with
// the subdirectories log, run, certs and extra, and its certificate.
// Nil components or users mean the defaults.
func newXMPPServer(name string, comps []Component, users []User, extra ...string) (*Server, error) {
	if comps == nil {
		comps = DefaultComponents()
	}
	if users == nil {
		users = DefaultUsers()
	}
	dir, err := newDir(name)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Name:       name,
		Domain:     LocalDomain,
		Components: append([]Component(nil), comps...),
		Users:      append([]User(nil), users...),
		Dir:        dir,
		LogFile:    filepath.Join(dir, "log", name+".log"),
	}
	for _, d := range append([]string{"log", "run", "certs"}, extra...) {
		if err = os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			break
		}
	}
	if err == nil {
		s.CertFile, s.KeyFile, _, err = writeCert(filepath.Join(dir, "certs"))
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("servertest: %s: %w", name, err)
	}
	return s, nil
}

// startWithRetry starts a new server, picking fresh ports again when a
// start fails (another process may have taken a port in between).
func startWithRetry(s *Server, repick func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			if perr := repick(); perr != nil {
				return perr
			}
		}
		if err = s.Start(); err == nil {
			return nil
		}
	}
	return err
}
