package harness

import (
	"runtime"
	"testing"
	"time"
)

func TestEcho(t *testing.T) {
	for _, lib := range Libs {
		t.Run(lib, func(t *testing.T) {
			d, err := EchoOnce(lib, 3000, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: 3000 stanzas in %v", lib, d)
		})
	}
}

func TestForward(t *testing.T) {
	for _, kind := range Relays {
		t.Run(kind, func(t *testing.T) {
			d, err := ForwardOnce(kind, 3000, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: 3000 stanzas in %v", kind, d)
		})
	}
}

// TestNoLeak checks that a finished scenario leaves no goroutine behind
// (of the harness or of the library under test).
func TestNoLeak(t *testing.T) {
	scenarios := []func() error{}
	for _, lib := range Libs {
		scenarios = append(scenarios, func() error { _, err := EchoOnce(lib, 100, 10*time.Second); return err })
	}
	for _, kind := range Relays {
		scenarios = append(scenarios, func() error { _, err := ForwardOnce(kind, 100, 10*time.Second); return err })
	}
	for i, run := range scenarios {
		before := runtime.NumGoroutine()
		if err := run(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("scenario %d: %d goroutines before, %d after:\n%s", i, before, n, buf[:runtime.Stack(buf, true)])
		}
	}
}
