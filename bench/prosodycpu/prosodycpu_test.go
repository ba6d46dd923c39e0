package prosodycpu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"xmppkit.dev/client"
	"xmppkit.dev/jid"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
)

// TestMain runs the binary as the component's child process when ChildEnv
// is set, and as the test binary otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(ChildEnv); spec != "" {
		if err := RunChild(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Environment of the full measurement.
const (
	enableEnv = "XMPPKIT_PROSODY_CPU"   // "1" runs TestProsodyCPU
	countEnv  = "XMPPKIT_PROSODY_CPU_N" // messages of TestProsodyCPU; default 100000
)

// maxRatio is the target of issue 13 (10% in issue 9): the component uses
// at most this share of the CPU time Prosody uses for the same messages.
const maxRatio = 0.05

// TestProsodyCPU is the measurement of issue 9: 100,000 messages (or
// XMPPKIT_PROSODY_CPU_N) echoed through Prosody, and the component's CPU
// time at most 5% of Prosody's. It runs only with XMPPKIT_PROSODY_CPU=1.
func TestProsodyCPU(t *testing.T) {
	if os.Getenv(enableEnv) != "1" {
		t.Skipf("set %s=1 to run (100,000 messages through Prosody, about a minute)", enableEnv)
	}
	n := 100000
	if v := os.Getenv(countEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive count", countEnv, v)
		}
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			r := measure(t, mode, n, 2000)
			t.Log(r)
			checkRatio(t, r, time.Second)
		})
	}
}

// modes are the component's two ways of sending: the default (Send
// returns once the stanza is written or queued behind a write in progress,
// so a burst of answers shares one write), and confirmed sends
// (Component.ConfirmSends: each Send waits for a barrier ping's answer).
var modes = []string{"default", "confirmed"}

// TestProsodyCPUQuick is the same measurement with 2,000 messages, so that
// every run of the bench module's tests exercises it in a few seconds. At
// that size the clock-tick resolution of /proc makes the ratio coarse; it
// is asserted only when Prosody used at least a second.
func TestProsodyCPUQuick(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			r := measure(t, mode, 2000, 500)
			t.Log(r)
			checkRatio(t, r, time.Second)
		})
	}
}

// checkRatio fails when the component used more than maxRatio of Prosody's
// CPU time, once Prosody used at least min (below that, 10 ms ticks make
// the ratio noise).
func checkRatio(t *testing.T, r result, min time.Duration) {
	t.Helper()
	if r.prosody < min {
		t.Logf("Prosody used %v (< %v): ratio not asserted", r.prosody, min)
		return
	}
	if r.ratio() > maxRatio {
		t.Errorf("component CPU %v is %.1f%% of Prosody's %v; want at most %.0f%%",
			r.component, 100*r.ratio(), r.prosody, 100*maxRatio)
	}
}

// result is one measured run.
type result struct {
	n         int
	elapsed   time.Duration // first message sent to last echo received
	prosody   time.Duration // Prosody's CPU time over the run
	component time.Duration // the component process's CPU time over the run
	client    time.Duration // this process's CPU time (the client) over the run
	window    int           // messages in flight at most
	backlog   Backlog       // the component's received-but-unanswered stanzas
}

func (r result) ratio() float64 { return float64(r.component) / float64(r.prosody) }

func (r result) String() string {
	return fmt.Sprintf("%d messages in %v (%.0f msg/s): Prosody CPU %v (%.1f µs/msg), component CPU %v (%.1f µs/msg), component/Prosody %.3f (%.1f%%); client process CPU %v; component backlog mean %.1f max %d (queue max %d bytes) of %d in flight",
		r.n, r.elapsed.Round(time.Millisecond), float64(r.n)/r.elapsed.Seconds(),
		r.prosody, perMsg(r.prosody, r.n), r.component, perMsg(r.component, r.n),
		r.ratio(), 100*r.ratio(), r.client, r.backlog.Mean, r.backlog.Max, r.backlog.MaxQueue, r.window)
}

func perMsg(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

// selfCPU is this process's user+system CPU time (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// child is the parent's end of the component process.
type child struct {
	pid int
	in  io.Writer
	out *bufio.Reader
}

// ask sends a command line to the child and returns its one-line answer.
func (c *child) ask(cmd string) (string, error) {
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return "", err
	}
	line, err := c.out.ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

// startComponent re-executes the test binary as the echo component for
// domain and waits until it has done its handshake with the server.
func startComponent(t *testing.T, srv *servertest.Server, c servertest.Component, mode string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), ChildEnv+"="+srv.ComponentAddr+" "+c.Domain+" "+c.Secret+" "+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		in.Close() // EOF: the child stops its component and exits
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("component process: %v: %s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("component process did not exit; killed")
		}
	})
	rd := bufio.NewReader(out)
	line, err := rd.ReadString('\n')
	if line != "ready\n" {
		in.Close()
		<-exited
		t.Fatalf("component process: %q, %v: %s", line, err, stderr.String())
	}
	return &child{pid: cmd.Process.Pid, in: in, out: rd}
}

// measure starts a private Prosody and the component (Send in mode), logs alice in, and
// echoes n messages with at most window in flight, checking each echo.
func measure(t *testing.T, mode string, n, window int) result {
	srv := servertest.Prosody(t, servertest.ProsodyOptions{})
	comp := srv.Components[0]
	ch := startComponent(t, srv, comp, mode)
	user := srv.Users[0]

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+time.Duration(n)*time.Millisecond)
	defer cancel()
	cl, err := client.Dial(ctx, srv.C2SAddr, client.Config{
		JID:                  jid.MustParse(user.JID(srv.Domain)),
		Password:             user.Password,
		AllowPlainWithoutTLS: true,
		RecvQueue:            window,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cl.Close(ctx); err != nil {
			t.Errorf("client close: %v", err)
		}
	}()
	to := jid.MustParse(comp.Domain)

	// Warm up: Prosody's and the component's first messages pay for
	// buffers and code paths that the measured ones then reuse.
	if _, err := echo(ctx, cl, to, "w", min(n, 500), window); err != nil {
		t.Fatal("warm-up: ", err)
	}

	if a, err := ch.ask("mark"); a != "marked" {
		t.Fatalf("component process: %q, %v", a, err)
	}
	prosodyPid, compPid := srv.Pid(), ch.pid
	p0, err := ProcessCPU(prosodyPid)
	if err != nil {
		t.Fatal(err)
	}
	c0, err := ProcessCPU(compPid)
	if err != nil {
		t.Fatal(err)
	}
	s0 := selfCPU()
	elapsed, err := echo(ctx, cl, to, "m", n, window)
	if err != nil {
		t.Fatal(err)
	}
	s1 := selfCPU()
	p1, err := ProcessCPU(prosodyPid)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := ProcessCPU(compPid)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Pid() != prosodyPid {
		t.Fatal("Prosody restarted during the run")
	}
	a, err := ch.ask("stats")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBacklog(a)
	if err != nil {
		t.Fatal(err)
	}
	return result{n: n, window: window, elapsed: elapsed, prosody: p1 - p0, component: c1 - c0, client: s1 - s0, backlog: b}
}

// body is the text of message i: about 100 bytes, like a short chat line.
func body(prefix string, i int) string {
	return prefix + strconv.Itoa(i) + " the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs"
}

// echo sends n chat messages with ids prefix0..prefix<n-1> to the component
// at to, at most window unanswered at a time, and waits for every echo: a
// chat message from to, with the same id and body, each exactly once. It
// returns the time from the first send to the last echo.
func echo(ctx context.Context, cl *client.Client, to jid.JID, prefix string, n, window int) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, window)
	sendErr := make(chan error, 1)
	start := time.Now()
	go func() {
		for i := range n {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				sendErr <- ctx.Err()
				return
			}
			m := stanza.NewMessage(stanza.TypeChat, to, body(prefix, i))
			m.ID = prefix + strconv.Itoa(i)
			if err := cl.Send(ctx, m); err != nil {
				sendErr <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sendErr <- nil
	}()
	seen := make([]bool, n)
	for got := 0; got < n; got++ {
		st, err := cl.Recv(ctx)
		if err != nil {
			select {
			case serr := <-sendErr:
				if serr != nil {
					return 0, serr
				}
			default:
			}
			return 0, fmt.Errorf("after %d of %d echoes: %w", got, n, err)
		}
		if err := checkEcho(st, to, prefix, seen); err != nil {
			return 0, err
		}
		<-slots
	}
	elapsed := time.Since(start)
	if err := <-sendErr; err != nil {
		return 0, err
	}
	return elapsed, nil
}

// checkEcho checks that st is the first echo of one of the messages sent
// and marks it seen.
func checkEcho(st *stanza.Stanza, from jid.JID, prefix string, seen []bool) error {
	if st.Kind != stanza.Message || st.Type != stanza.TypeChat {
		if se := st.Err(); se != nil {
			return fmt.Errorf("error stanza for %q: %v", st.ID, se)
		}
		return fmt.Errorf("unexpected %v stanza of type %q (id %q)", st.Kind, st.Type, st.ID)
	}
	if st.From != from {
		return fmt.Errorf("echo %q from %v, want %v", st.ID, st.From, from)
	}
	num, ok := strings.CutPrefix(st.ID, prefix)
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 || i >= len(seen) {
		return fmt.Errorf("echo with unknown id %q", st.ID)
	}
	if seen[i] {
		return fmt.Errorf("echo %q received twice", st.ID)
	}
	seen[i] = true
	if got, want := st.Body(), body(prefix, i); got != want {
		return fmt.Errorf("echo %q body %q, want %q", st.ID, got, want)
	}
	return nil
}
