package harness

import (
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
