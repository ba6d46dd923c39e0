package harness

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStartCPUProfile(t *testing.T) {
	const env = "XMPPBENCH_TEST_CPUPROFILE"

	t.Setenv(env, "")
	stop, err := StartCPUProfile(env)
	if err != nil {
		t.Fatalf("unset: %v", err)
	}
	stop()

	path := filepath.Join(t.TempDir(), "cpu.prof")
	t.Setenv(env, path)
	stop, err = StartCPUProfile(env)
	if err != nil {
		t.Fatal(err)
	}
	// A second profile cannot start while the first runs.
	t.Setenv(env, filepath.Join(t.TempDir(), "second.prof"))
	if _, err := StartCPUProfile(env); err == nil {
		t.Error("second concurrent profile started")
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile file: %v, %v", fi, err)
	}

	t.Setenv(env, filepath.Join(t.TempDir(), "missing", "cpu.prof"))
	if _, err := StartCPUProfile(env); err == nil {
		t.Error("profile into a missing directory started")
	}
}
