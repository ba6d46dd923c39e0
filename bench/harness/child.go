package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result is one measured run of a scenario.
type Result struct {
	Scenario string        // "echo/xmppkit", "router/relay", ...
	Round    int           // the round it ran in (ratios pair runs of one round)
	N        int           // stanzas
	Elapsed  time.Duration // first write to last stanza received
	Mallocs  uint64        // heap allocations in the measured process during the run
	CPU      time.Duration // user+system CPU time of the measured process during the run
	PeakRSS  int64         // VmHWM of the measured process, bytes
}

// Rate is stanzas per second.
func (r Result) Rate() float64 { return float64(r.N) / r.Elapsed.Seconds() }

// CPUPer is the measured process's CPU time per stanza.
func (r Result) CPUPer() time.Duration { return r.CPU / time.Duration(r.N) }

// AllocsPer is heap allocations per stanza.
func (r Result) AllocsPer() float64 { return float64(r.Mallocs) / float64(r.N) }

// ChildFlag is the command-line flag that makes the harness binary run as
// the measured child process (see RunChild).
const ChildFlag = "-xmppbench-child"

// procStatus returns a field of /proc/self/status in bytes (the file gives
// kB).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v << 10
			}
		}
	}
	return 0
}

// usage is what the child counts over a run: heap allocations and CPU
// time.
type usage struct {
	mallocs uint64
	cpu     time.Duration
}

func snapshot() usage {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return usage{mallocs: m.Mallocs, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
}

// resultLine is the child's report: allocations, peak RSS, CPU time, and
// optionally the elapsed time it measured itself.
func resultLine(w io.Writer, u0, u1 usage, extra ...any) {
	args := []any{"result", u1.mallocs - u0.mallocs, procStatus("VmHWM"), (u1.cpu - u0.cpu).Nanoseconds()}
	fmt.Fprintln(w, append(args, extra...)...)
}

// RunChild is the body of the child process: mode is "echo/<lib>",
// "router/<relay>" or "idle", arg its argument (the server address, or the
// stanza count, or the connection count). It talks to the parent over
// stdin and stdout, one line per message:
//
//	child: ready [addr]     parent: start
//	child: ok               (parent runs the flood)
//	parent: end             child: result <mallocs> <peakRSS> [<ns>]
//
// Allocations are counted between start and end, so setup is excluded.
//
// When the environment variable named by ProfileEnv is set, the child
// writes a CPU profile of its whole run to that file.
func RunChild(mode, arg string, stdin io.Reader, stdout io.Writer) error {
	stopProfile, err := StartCPUProfile(ProfileEnv)
	if err != nil {
		return err
	}
	defer stopProfile()
	in := bufio.NewScanner(stdin)
	expect := func(word string) error {
		if !in.Scan() {
			return fmt.Errorf("child: parent went away waiting for %q", word)
		}
		if in.Text() != word {
			return fmt.Errorf("child: got %q, want %q", in.Text(), word)
		}
		return nil
	}
	kind, name, _ := strings.Cut(mode, "/")
	switch {
	case kind == "echo" || kind == "echo1":
		stop, err := StartEcho(name, arg)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ready")
		if err := expect("start"); err != nil {
			stop()
			return err
		}
		u0 := snapshot()
		fmt.Fprintln(stdout, "ok")
		if err := expect("end"); err != nil {
			stop()
			return err
		}
		u1 := snapshot()
		resultLine(stdout, u0, u1)
		return stop()
	case kind == "router" && name == "router-inproc":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		// Warm up (the first run pays for starting goroutines and growing
		// queues), then measure.
		if _, err := Inproc(min(n, 10000), time.Minute); err != nil {
			return err
		}
		runtime.GC()
		u0 := snapshot()
		d, err := Inproc(n, 2*time.Minute)
		if err != nil {
			return err
		}
		u1 := snapshot()
		resultLine(stdout, u0, u1, d.Nanoseconds())
		return nil
	case kind == "router":
		rl, err := StartRelay(name)
		if err != nil {
			return err
		}
		defer rl.Close()
		fmt.Fprintln(stdout, "ready", rl.Addr())
		if err := expect("start"); err != nil {
			return err
		}
		u0 := snapshot()
		fmt.Fprintln(stdout, "ok")
		if err := expect("end"); err != nil {
			return err
		}
		u1 := snapshot()
		resultLine(stdout, u0, u1)
		return nil
	case kind == "idle":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		return idleChild(n, in, stdout)
	}
	return fmt.Errorf("child: unknown mode %q", mode)
}

// ProfileDir, when set, makes every child process write a CPU profile of
// its run there, named after its scenario and a sequence number
// (echo-xmppkit-3.prof); read one with go tool pprof -top.
var ProfileDir string

// ProfileEnv is the environment variable that tells a child where to
// write its CPU profile.
const ProfileEnv = "XMPPBENCH_CPUPROFILE"

var profileSeq atomic.Int64

// child is the parent's handle on a child process.
type child struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr bytes.Buffer
}

func startChild(mode, arg string) (*child, error) { return startChildUnder(nil, nil, mode, arg) }

// startChildUnder starts the child as the command wrap (a tool such as
// valgrind, with its arguments) running this binary, with env added to
// the environment.
func startChildUnder(wrap, env []string, mode, arg string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append(append(slices.Clone(wrap), exe), ChildFlag, mode, arg)
	c := &child{cmd: exec.Command(args[0], args[1:]...)}
	c.cmd.Stderr = &c.stderr
	if ProfileDir != "" {
		name := strings.ReplaceAll(mode, "/", "-") + "-" + strconv.FormatInt(profileSeq.Add(1), 10) + ".prof"
		env = append(env, ProfileEnv+"="+filepath.Join(ProfileDir, name))
	}
	if len(env) > 0 {
		c.cmd.Env = append(os.Environ(), env...)
	}
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewScanner(out)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *child) send(line string) error {
	_, err := io.WriteString(c.in, line+"\n")
	return err
}

// recv reads the next line and checks its first word.
func (c *child) recv(word string) ([]string, error) {
	if !c.out.Scan() {
		return nil, fmt.Errorf("child exited waiting for %q: %s", word, strings.TrimSpace(c.stderr.String()))
	}
	f := strings.Fields(c.out.Text())
	if len(f) == 0 || f[0] != word {
		return nil, fmt.Errorf("child said %q, want %q", c.out.Text(), word)
	}
	return f[1:], nil
}

// wait ends the child: close its stdin and wait, killing it after a while.
func (c *child) wait() error {
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(c.stderr.String()))
		}
		return nil
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-done
		return errors.New("child did not exit; killed")
	}
}

// measure tells the child to start counting, runs the load, tells it to
// stop, and reads its figures into res.
func (c *child) measure(res *Result, load func() (time.Duration, error)) error {
	if err := c.send("start"); err != nil {
		return err
	}
	if _, err := c.recv("ok"); err != nil {
		return err
	}
	var err error
	if res.Elapsed, err = load(); err != nil {
		return err
	}
	if err := c.send("end"); err != nil {
		return err
	}
	f, err := c.recv("result")
	if err != nil {
		return err
	}
	return parseResult(f, res)
}

func parseResult(f []string, r *Result) error {
	if len(f) < 3 {
		return fmt.Errorf("short result %q", f)
	}
	var err error
	if r.Mallocs, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return err
	}
	if r.PeakRSS, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		return err
	}
	cpu, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return err
	}
	r.CPU = time.Duration(cpu)
	if len(f) > 3 {
		ns, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return err
		}
		r.Elapsed = time.Duration(ns)
	}
	return nil
}

// MeasureEcho runs the echo scenario for lib with the component in a child
// process (this binary re-executed with ChildFlag), so that its
// allocations and peak RSS are its own. senders is the number of distinct
// sender JIDs: 64 is scenario echo/lib, 1 is echo1/lib (every stanza to
// one handler worker, in order).
func MeasureEcho(lib string, n, senders int, timeout time.Duration) (Result, error) {
	res := Result{Scenario: EchoScenario(lib, senders), N: n}
	srv, err := Listen()
	if err != nil {
		return res, err
	}
	defer srv.Close()
	c, err := startChild(res.Scenario, srv.Addr())
	if err != nil {
		return res, err
	}
	fail := func(err error) (Result, error) {
		c.cmd.Process.Kill()
		c.wait()
		return res, fmt.Errorf("%s: %w", res.Scenario, err)
	}
	if _, err := c.recv("ready"); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	peer, err := srv.Accept(ctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	defer peer.Close()
	peer.Senders = senders
	if err := c.measure(&res, func() (time.Duration, error) { return peer.Flood(n, timeout) }); err != nil {
		return fail(err)
	}
	peer.Close()
	if err := c.wait(); err != nil {
		return res, fmt.Errorf("%s: %w", res.Scenario, err)
	}
	return res, nil
}

// EchoScenario names the echo scenario of lib with senders sender JIDs:
// echo/lib for the flood of 64 senders, echo1/lib for one.
func EchoScenario(lib string, senders int) string {
	if senders == 1 {
		return "echo1/" + lib
	}
	return "echo/" + lib
}

// MeasureForward runs a router scenario with the relay or router in a
// child process and the raw components A and B in this one.
func MeasureForward(kind string, n int, timeout time.Duration) (Result, error) {
	return measureForward(nil, nil, kind, n, timeout)
}

// measureForward is MeasureForward with the child started by
// startChildUnder(wrap, env, ...).
func measureForward(wrap, env []string, kind string, n int, timeout time.Duration) (Result, error) {
	res := Result{Scenario: "router/" + kind, N: n}
	if kind == "router-inproc" {
		c, err := startChildUnder(wrap, env, res.Scenario, strconv.Itoa(n))
		if err != nil {
			return res, err
		}
		f, err := c.recv("result")
		if err == nil {
			err = parseResult(f, &res)
		}
		if werr := c.wait(); err == nil {
			err = werr
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", res.Scenario, err)
		}
		return res, nil
	}
	c, err := startChildUnder(wrap, env, res.Scenario, "-")
	if err != nil {
		return res, err
	}
	fail := func(err error) (Result, error) {
		c.cmd.Process.Kill()
		c.wait()
		return res, fmt.Errorf("%s: %w", res.Scenario, err)
	}
	f, err := c.recv("ready")
	if err != nil || len(f) != 1 {
		return fail(fmt.Errorf("no address: %v", err))
	}
	if err := c.measure(&res, func() (time.Duration, error) { return Forward(f[0], n, timeout) }); err != nil {
		return fail(err)
	}
	if err := c.wait(); err != nil {
		return res, fmt.Errorf("%s: %w", res.Scenario, err)
	}
	return res, nil
}

// RaiseNoFile raises RLIMIT_NOFILE to its hard limit and returns the new
// soft limit.
func RaiseNoFile() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// IdleResult is the memory of idle component connections on the router.
type IdleResult struct {
	Conns      int
	RSSDelta   int64   // VmRSS after the connections minus before, bytes
	HeapDelta  int64   // HeapInuse+StackInuse after minus before, bytes
	Goroutines float64 // goroutines per connection
}

// PerConnKiB is the resident memory per connection in KiB.
func (r IdleResult) PerConnKiB() float64 { return float64(r.RSSDelta) / 1024 / float64(r.Conns) }

func heapStack() (int64, int) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse), runtime.NumGoroutine()
}

// idleChild serves n component domains on a router, reports its address,
// and when told "measure" reports its memory growth.
func idleChild(n int, in *bufio.Scanner, stdout io.Writer) error {
	if _, err := RaiseNoFile(); err != nil {
		return err
	}
	extra := make(map[string]string, n)
	for i := 0; i < n; i++ {
		extra[idleDomain(i)] = Secret
	}
	rl, err := startRouterTCP(extra)
	if err != nil {
		return err
	}
	defer rl.Close()
	runtime.GC()
	rss0 := procStatus("VmRSS")
	hs0, g0 := heapStack()
	fmt.Fprintln(stdout, "ready", rl.Addr())
	if !in.Scan() || in.Text() != "measure" {
		return errors.New("child: no measure")
	}
	runtime.GC()
	rss1 := procStatus("VmRSS")
	hs1, g1 := heapStack()
	fmt.Fprintln(stdout, "result", rss1-rss0, hs1-hs0, g1-g0)
	if !in.Scan() {
		return nil
	}
	return nil
}

func idleDomain(i int) string { return "c" + strconv.Itoa(i) + ".bench.local" }

// MeasureIdle connects n raw components to a router in a child process,
// leaves them idle, and reports the router's memory growth.
func MeasureIdle(n int) (IdleResult, error) {
	lim, err := RaiseNoFile()
	if err != nil {
		return IdleResult{Conns: n}, fmt.Errorf("idle: RLIMIT_NOFILE: %w", err)
	}
	if lim < uint64(n)+256 {
		// Each process holds one descriptor per connection: measure as
		// many as the limit allows (Conns says how many).
		if lim < 256+100 {
			return IdleResult{Conns: n}, fmt.Errorf("idle: RLIMIT_NOFILE %d too low", lim)
		}
		n = int(lim) - 256
	}
	res := IdleResult{Conns: n}
	c, err := startChild("idle", strconv.Itoa(n))
	if err != nil {
		return res, err
	}
	fail := func(err error) (IdleResult, error) {
		c.cmd.Process.Kill()
		c.wait()
		return res, fmt.Errorf("idle: %w", err)
	}
	f, err := c.recv("ready")
	if err != nil || len(f) != 1 {
		return fail(fmt.Errorf("no address: %v", err))
	}
	addr := f[0]
	conns := make([]net.Conn, n)
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				cn.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				cn, err := net.Dial("tcp", addr)
				if err == nil {
					rd := newElemReaderSize(cn, 4096)
					err = dialHandshake(cn, rd, idleDomain(i), Secret)
					conns[i] = cn
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return fail(firstErr)
	}
	time.Sleep(200 * time.Millisecond) // let the router settle
	if err := c.send("measure"); err != nil {
		return fail(err)
	}
	f, err = c.recv("result")
	if err != nil || len(f) != 3 {
		return fail(fmt.Errorf("bad result %q: %v", f, err))
	}
	res.RSSDelta, _ = strconv.ParseInt(f[0], 10, 64)
	res.HeapDelta, _ = strconv.ParseInt(f[1], 10, 64)
	g, _ := strconv.Atoi(f[2])
	res.Goroutines = float64(g) / float64(max(n, 1))
	for i, cn := range conns {
		cn.Close()
		conns[i] = nil
	}
	if err := c.wait(); err != nil {
		return res, fmt.Errorf("idle: %w", err)
	}
	return res, nil
}

// StartCPUProfile starts a CPU profile (runtime/pprof) written to the file
// named by the environment variable env, when env is set. The returned stop
// ends the profile and closes the file; it does nothing when env is unset.
func StartCPUProfile(env string) (stop func(), err error) {
	path := os.Getenv(env)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
