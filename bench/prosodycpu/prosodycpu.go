package prosodycpu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"xmppkit.dev/bench/harness"
	"xmppkit.dev/component"
)

// ClockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which is 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const ClockTick = 10 * time.Millisecond

// ErrBadStat is returned for a /proc/<pid>/stat line that cannot be read.
var ErrBadStat = errors.New("prosodycpu: malformed /proc stat line")

// ParseStatCPU returns utime+stime, in clock ticks, from the contents of
// /proc/<pid>/stat (proc(5): fields 14 and 15). The second field, the
// command name in parentheses, may itself hold spaces and parentheses, so
// the fields are counted from the last ')'.
func ParseStatCPU(data []byte) (ticks uint64, err error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || !bytes.Contains(data[:i], []byte("(")) {
		return 0, ErrBadStat
	}
	// After ") " come field 3 (state) onwards: utime is field 14, the
	// 12th of these.
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, ErrBadStat
	}
	u, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: utime %q", ErrBadStat, f[11])
	}
	s, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stime %q", ErrBadStat, f[12])
	}
	if u+s < u {
		return 0, fmt.Errorf("%w: utime+stime overflows", ErrBadStat)
	}
	return u + s, nil
}

// ProcessCPU returns the user+system CPU time that process pid has used so
// far, from /proc/<pid>/stat, with a resolution of ClockTick.
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	t, err := ParseStatCPU(data)
	if err != nil {
		return 0, err
	}
	return time.Duration(t) * ClockTick, nil
}

// ChildEnv is the environment variable that makes the test binary run as
// the component's child process: its value is "addr domain secret mode",
// mode "default" or "confirmed" (Component.ConfirmSends).
const ChildEnv = "XMPPKIT_PROSODYCPU_CHILD"

// ProfileEnv, when set in the child's environment, names a file where the
// child writes a CPU profile of its whole run (read it with go tool pprof).
const ProfileEnv = "XMPPKIT_PROSODYCPU_PROFILE"

// RunChild is the body of the child process: it connects the xmppkit echo
// component (harness.XmppkitEchoHandler: a mux.ServeMux answering each chat
// message with Reply and the received body) to the XEP-0114 listener named
// by spec ("addr domain secret mode", see ChildEnv), writes "ready" to out once the handshake
// is done, and runs until in reaches EOF (the parent closing the pipe or
// exiting). Meanwhile it samples the component's counters every
// SampleInterval and answers the parent's lines on in: "mark" (reset the
// samples; answer "marked") and "stats" (answer with the backlog since the
// mark, see ParseBacklog). It returns the component's error, nil after a
// clean stop.
func RunChild(spec string, in io.Reader, out io.Writer) error {
	f := strings.Fields(spec)
	if len(f) != 4 || (f[3] != "default" && f[3] != "confirmed") {
		return fmt.Errorf("prosodycpu: child spec %q: want \"addr domain secret default|confirmed\"", spec)
	}
	stopProfile, err := harness.StartCPUProfile(ProfileEnv)
	if err != nil {
		return err
	}
	defer stopProfile()
	c := &component.Component{
		Addr:         f[0],
		Domain:       f[1],
		Secret:       f[2],
		Handler:      harness.XmppkitEchoHandler(),
		Logger:       slog.New(slog.DiscardHandler),
		ConfirmSends: f[3] == "confirmed",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
wait:
	for {
		select {
		case err := <-done:
			return fmt.Errorf("prosodycpu: component stopped before connecting: %w", err)
		case <-deadline:
			cancel()
			<-done
			return fmt.Errorf("prosodycpu: component not connected after 15s: %v", c.Stats().LastError)
		case <-tick.C:
			if c.Stats().State == component.StateConnected {
				break wait
			}
		}
	}
	if _, err := io.WriteString(out, "ready\n"); err != nil {
		cancel()
		<-done
		return err
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var b backlog
	sample := time.NewTicker(SampleInterval)
	defer sample.Stop()
	for {
		select {
		case err := <-done:
			return fmt.Errorf("prosodycpu: component stopped: %w", err)
		case <-sample.C:
			b.add(c.Stats())
		case line, ok := <-lines:
			if !ok {
				cancel()
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					return err
				}
				return nil
			}
			switch line {
			case "mark":
				b = backlog{}
				fmt.Fprintln(out, "marked")
			case "stats":
				fmt.Fprintln(out, b.String())
			default:
				fmt.Fprintf(out, "error unknown command %q\n", line)
			}
		}
	}
}

// SampleInterval is how often the child samples the component's counters
// for its backlog figures.
const SampleInterval = 20 * time.Millisecond

// backlog accumulates samples of the component's counters: how many
// stanzas it had received but not yet answered (StanzasIn - StanzasOut),
// and the depth of its outbound queue. A component that keeps up shows a
// backlog far below the number of messages in flight.
type backlog struct {
	samples  int
	sum, max uint64
	maxQueue int
}

func (b *backlog) add(st component.Stats) {
	var d uint64
	if st.StanzasIn > st.StanzasOut {
		d = st.StanzasIn - st.StanzasOut
	}
	b.samples++
	b.sum += d
	b.max = max(b.max, d)
	b.maxQueue = max(b.maxQueue, st.QueueBytes)
}

// String is the child's "stats" answer: samples, mean and maximum backlog,
// maximum queue depth.
func (b backlog) String() string {
	mean := 0.0
	if b.samples > 0 {
		mean = float64(b.sum) / float64(b.samples)
	}
	return fmt.Sprintf("stats %d %.2f %d %d", b.samples, mean, b.max, b.maxQueue)
}

// Backlog is the component's backlog over a run, as the child reports it.
type Backlog struct {
	Samples  int     // counter samples taken, one per SampleInterval
	Mean     float64 // mean of received-but-unanswered stanzas
	Max      uint64  // maximum of received-but-unanswered stanzas
	MaxQueue int     // maximum bytes queued for the server
}

// ParseBacklog reads the child's "stats" line.
func ParseBacklog(line string) (Backlog, error) {
	var b Backlog
	n, err := fmt.Sscanf(line, "stats %d %g %d %d", &b.Samples, &b.Mean, &b.Max, &b.MaxQueue)
	if err != nil || n != 4 {
		return Backlog{}, fmt.Errorf("prosodycpu: bad stats line %q: %v", line, err)
	}
	return b, nil
}
