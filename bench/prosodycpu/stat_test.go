package prosodycpu

import (
	"errors"
	"os"
	"testing"
	"time"

	"xmppkit.dev/component"
	"xmppkit.dev/session"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		err  bool
	}{
		{"plain", "4242 (lua5.4) S 1 4242 4242 0 -1 4194560 1234 0 0 0 157 43 0 0 20 0 1 0 99 12345 678 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0", 200, false},
		{"spaces and parens in comm", "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 2 3", 11, false},
		{"zero", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0", 0, false},
		{"no paren", "1 x S 0 1 1 0 -1 0 0 0 0 0 5 6", 0, true},
		{"close paren only", "1 x) S 0 1 1 0 -1 0 0 0 0 0 5 6", 0, true},
		{"short", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 5", 0, true},
		{"bad utime", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 -5 6", 0, true},
		{"bad stime", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 5 z", 0, true},
		{"overflow", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 18446744073709551615 1", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatCPU([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, ErrBadStat) {
					t.Fatalf("ParseStatCPU(%q) = %d, %v; want ErrBadStat", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseStatCPU(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestProcessCPU checks the /proc reading against getrusage of this
// process: the two clocks differ only by the tick resolution.
func TestProcessCPU(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	before := selfCPU()
	got, err := ProcessCPU(os.Getpid())
	after := selfCPU()
	if err != nil {
		t.Fatal(err)
	}
	if got < before-2*ClockTick || got > after+2*ClockTick {
		t.Fatalf("ProcessCPU(self) = %v; getrusage says %v..%v", got, before, after)
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Fatal("ProcessCPU(-1): no error")
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("4242 (lua5.4) S 1 4242 4242 0 -1 4194560 1234 0 0 0 157 43 0 0 20 0"))
	f.Add([]byte("7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0"))
	f.Add([]byte("1 (x) S 0 1 1 0 -1 0 0 0 0 0 18446744073709551615 1"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseStatCPU(data)
		if err != nil {
			if !errors.Is(err, ErrBadStat) {
				t.Fatalf("error %v is not ErrBadStat", err)
			}
			if n != 0 {
				t.Fatalf("error with ticks %d", n)
			}
		}
	})
}

func TestRunChildBadSpec(t *testing.T) {
	for _, spec := range []string{"", "a b c", "a b c fast", "a b c sync extra"} {
		if err := RunChild(spec, nil, nil); err == nil {
			t.Errorf("RunChild(%q): no error", spec)
		}
	}
}

func TestBacklog(t *testing.T) {
	var b backlog
	for _, st := range []component.Stats{
		{Stats: session.Stats{StanzasIn: 10, StanzasOut: 10}},
		{Stats: session.Stats{StanzasIn: 20, StanzasOut: 14}, QueueBytes: 3},
		{Stats: session.Stats{StanzasIn: 30, StanzasOut: 28}, QueueBytes: 1},
		{Stats: session.Stats{StanzasIn: 30, StanzasOut: 31}}, // more written than received (a ping of its own) counts as 0
	} {
		b.add(st)
	}
	got, err := ParseBacklog(b.String())
	if err != nil {
		t.Fatal(err)
	}
	want := Backlog{Samples: 4, Mean: 2, Max: 6, MaxQueue: 3}
	if got != want {
		t.Fatalf("backlog %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "stats", "stats 1 x 2 3", "marked", "stats 1 2.0 -1 3"} {
		if _, err := ParseBacklog(bad); err == nil {
			t.Errorf("ParseBacklog(%q): no error", bad)
		}
	}
}
