package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Instructions is the instruction count of a router scenario's child
// process per forwarded stanza, counted by valgrind's callgrind tool:
// unlike rates and CPU times it does not depend on what else the machine
// runs, so it compares builds on a loaded machine. It counts user-space
// instructions only (the kernel's work in system calls is not in it), and
// under valgrind the process's threads run one at a time, so batching (how
// many stanzas one read or write carries) may differ from a native run.
type Instructions struct {
	Scenario  string
	Small, N  int     // stanzas of the two runs
	PerStanza float64 // (count(N) - count(Small)) / (N - Small)
}

// HaveCallgrind reports whether valgrind is installed.
func HaveCallgrind() bool {
	_, err := exec.LookPath("valgrind")
	return err == nil
}

// MeasureInstructions runs the router scenario kind twice with its child
// under callgrind, with n/4 and n stanzas, and returns the difference of
// the two instruction counts per stanza of the difference: what one more
// forwarded stanza costs, without the process's start, the handshakes and
// the exit. dir receives callgrind's output files (callgrind_annotate
// reads them).
func MeasureInstructions(kind string, n int, dir string, timeout time.Duration) (Instructions, error) {
	res := Instructions{Scenario: "router/" + kind, Small: n / 4, N: n}
	if res.Small < 1 || res.N <= res.Small {
		return res, errors.New("harness: too few stanzas to count instructions")
	}
	var counts [2]uint64
	for i, cnt := range []int{res.Small, res.N} {
		out := filepath.Join(dir, strings.ReplaceAll(res.Scenario, "/", "-")+"-"+strconv.Itoa(cnt)+".callgrind")
		wrap := []string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + out}
		// Valgrind 3.19 neither emulates RDTSCP nor copes with Go's
		// preemption signals in callgrind: turn both off.
		env := []string{"GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off"}
		if _, err := measureForward(wrap, env, kind, cnt, timeout); err != nil {
			return res, err
		}
		c, err := callgrindTotal(out)
		if err != nil {
			return res, err
		}
		counts[i] = c
	}
	res.PerStanza = (float64(counts[1]) - float64(counts[0])) / float64(res.N-res.Small)
	return res, nil
}

// callgrindTotal reads the instruction count of a callgrind output file
// (its "summary:" or "totals:" line).
func callgrindTotal(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, key := range []string{"summary:", "totals:"} {
			if rest, ok := strings.CutPrefix(line, key); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					return strconv.ParseUint(f[0], 10, 64)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("harness: no instruction total in %s", path)
}
