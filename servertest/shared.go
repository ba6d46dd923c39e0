package servertest

import (
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// live is the set of servers with a running process, so that [Main] can
// stop them all when the test binary is interrupted.
var live = &liveSet{m: map[*Server]bool{}}

type liveSet struct {
	mu     sync.Mutex
	m      map[*Server]bool
	groups []int // every process group ever started, for the leak check
}

func (l *liveSet) add(s *Server) {
	l.mu.Lock()
	l.m[s] = true
	if p := s.procSnapshot.Load(); p != nil {
		l.groups = append(l.groups, p.pid)
	}
	l.mu.Unlock()
}

// leftovers kills and reports processes still alive in any process group
// this package started.
func (l *liveSet) leftovers() error {
	l.mu.Lock()
	groups := append([]int(nil), l.groups...)
	l.mu.Unlock()
	var left []int
	for _, g := range groups {
		if processAlive(g) {
			continue // the pid was reused: not our group any more (see killGroup)
		}
		if m := groupMembers(g); len(m) > 0 {
			left = append(left, m...)
			_ = killGroup(g, 5*time.Second)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("servertest: processes %v outlived the tests; killed", left)
	}
	return nil
}

func (l *liveSet) remove(s *Server) {
	l.mu.Lock()
	delete(l.m, s)
	l.mu.Unlock()
}

func (l *liveSet) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// killAll SIGKILLs every live server and its process group without
// waiting for locks that a running test may hold.
func (l *liveSet) killAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.m {
		if p := s.procUnlocked(); p != nil {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		}
	}
}

// procUnlocked returns the running process without taking s.mu, for the
// signal path, where a test goroutine may hold s.mu during a long start.
func (s *Server) procUnlocked() *process {
	return s.procSnapshot.Load()
}

var shared struct {
	mu      sync.Mutex
	active  bool
	entries map[Kind]*sharedEntry
}

type sharedEntry struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the tests of a package that uses [Shared] and then stops every
// shared server and removes its directory. It returns the exit code for
// os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }
//
// If the test binary gets SIGINT or SIGTERM while tests run, every server
// started by this package is killed before the binary dies.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.active = true
	shared.entries = map[Kind]*sharedEntry{}
	shared.mu.Unlock()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-sigs:
			live.killAll()
			signal.Reset(sig.(syscall.Signal))
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-stop:
		}
	}()

	code := m.Run()

	signal.Stop(sigs)
	close(stop)
	wg.Wait()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	if err := StopShared(); err != nil {
		fail(err)
	}
	// Private servers stop in t.Cleanup; anything still running here leaked.
	if n := live.count(); n > 0 {
		live.killAll()
		fail(fmt.Errorf("servertest: %d server(s) still running after the tests; killed", n))
	}
	if err := live.leftovers(); err != nil {
		fail(err)
	}
	return code
}

// StopShared stops every shared server and removes its directory. [Main]
// calls it; call it yourself only from a TestMain that does not use Main.
func StopShared() error {
	shared.mu.Lock()
	entries := shared.entries
	shared.entries = map[Kind]*sharedEntry{}
	shared.active = false
	shared.mu.Unlock()
	var first error
	for _, e := range entries {
		if e.srv == nil {
			continue
		}
		e.srv.shared.Store(false)
		if err := e.srv.Stop(); err != nil && first == nil {
			first = err
		}
		os.RemoveAll(e.srv.Dir)
	}
	return first
}

// Shared returns the server of the given kind (KindProsody, KindEjabberd,
// KindNgircd, KindInspircd or KindPostgres) shared by every test of the test binary, starting it on first
// use with the defaults ([DefaultComponents], [DefaultUsers]). The test
// binary must run through [Main], which stops the server at the end.
//
// Tests must not stop or restart a shared server; a test that needs that
// starts its own with [Prosody], [Ejabberd], [Ngircd], [Inspircd] or
// [Postgres]; tests sharing a PostgreSQL server each take a database of
// their own with [Server.Database]. If the software is
// missing the test skips (or fails under CI=true), see [Require]. If the
// shared server failed to start, every test that asks for it fails with the
// same error.
func Shared(t testing.TB, kind Kind) *Server {
	t.Helper()
	Require(t, kind)
	shared.mu.Lock()
	if !shared.active {
		shared.mu.Unlock()
		t.Fatal("servertest.Shared needs the package's TestMain to run servertest.Main: " +
			"func TestMain(m *testing.M) { os.Exit(servertest.Main(m)) }")
	}
	e := shared.entries[kind]
	if e == nil {
		e = &sharedEntry{}
		shared.entries[kind] = e
	}
	shared.mu.Unlock()
	e.once.Do(func() {
		switch kind {
		case KindProsody:
			e.srv, e.err = newProsody(ProsodyOptions{})
		case KindEjabberd:
			e.srv, e.err = newEjabberd(EjabberdOptions{})
		case KindNgircd:
			e.srv, e.err = newNgircd(NgircdOptions{})
		case KindInspircd:
			e.srv, e.err = newInspircd(InspircdOptions{})
		case KindPostgres:
			e.srv, e.err = newPostgres(PostgresOptions{})
		default:
			e.err = fmt.Errorf("servertest: no shared server of kind %q", kind)
		}
	})
	if e.err != nil {
		t.Fatalf("shared %s: %v", kind, e.err)
	}
	e.srv.shared.Store(true)
	return e.srv
}

var leasable = regexp.MustCompile(`^c[0-9]+\.`)

// Component leases one of the server's numbered components (c1.localhost,
// c2.localhost, …) to the test until it ends, so that tests running in
// parallel on a shared server never connect twice for the same domain
// (Prosody refuses the second connection with conflict, ejabberd accepts
// both). It waits up to 30 s for a free one.
func (s *Server) Component(t testing.TB) Component {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s.leaseMu.Lock()
		if s.leased == nil {
			s.leased = map[string]bool{}
		}
		if s.freed == nil {
			s.freed = make(chan struct{})
		}
		for _, c := range s.Components {
			if leasable.MatchString(c.Domain) && !s.leased[c.Domain] {
				s.leased[c.Domain] = true
				s.leaseMu.Unlock()
				t.Cleanup(func() { s.release(c.Domain) })
				return c
			}
		}
		freed := s.freed
		s.leaseMu.Unlock()
		select {
		case <-freed:
		case <-deadline:
			t.Fatalf("servertest: no free numbered component on %s after 30 s", s.Name)
		}
	}
}

func (s *Server) release(domain string) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	delete(s.leased, domain)
	close(s.freed)
	s.freed = make(chan struct{})
}
