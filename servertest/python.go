package servertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// systemPython is the interpreter that Debian's python3-slixmpp belongs to;
// the python3 first on PATH may be another build without it.
const systemPython = "/usr/bin/python3"

var slixmppCheck struct {
	once sync.Once
	ok   bool
}

func slixmppInstalled() bool {
	slixmppCheck.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, systemPython, "-c", "import slixmpp")
		cmd.Env = pythonEnv()
		slixmppCheck.ok = cmd.Run() == nil
	})
	return slixmppCheck.ok
}

// Python returns the path of a Python interpreter that can import slixmpp
// (/usr/bin/python3). The test skips (or fails under CI=true) when there is
// none.
func Python(t testing.TB) string {
	t.Helper()
	Require(t, KindSlixmpp)
	return systemPython
}

// pythonEnv is the caller's environment without variables that could point
// the system Python at another installation's modules.
func pythonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "PYTHONHOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
}

// RunPython writes script to a temporary file and runs it with the slixmpp
// Python and args, returning its standard output. It ends when ctx ends, or
// after 60 s if ctx has no deadline, killing the script's whole process
// group by pid. A non-nil error carries the tail of standard error.
func RunPython(t testing.TB, ctx context.Context, script string, args ...string) (stdout string, err error) {
	t.Helper()
	py := Python(t)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	f, err := os.CreateTemp("", "servertest-*.py")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, py, append([]string{f.Name()}, args...)...)
	cmd.Env = pythonEnv()
	cmd.Stdout = &out
	cmd.Stderr = &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	runErr := cmd.Run()
	if cmd.Process != nil {
		_ = killGroup(cmd.Process.Pid, 2*time.Second)
	}
	if runErr != nil {
		if ctx.Err() != nil && !errors.Is(runErr, ctx.Err()) {
			runErr = fmt.Errorf("%w (%v)", ctx.Err(), runErr)
		}
		return out.String(), fmt.Errorf("servertest: python script: %w\n--- stderr (tail) ---\n%s", runErr, tailLines(errb.Bytes(), 20))
	}
	return out.String(), nil
}
