package daemon

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xmppkit.dev/component"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("s3cret\r\n"), 0o644)
	var warn strings.Builder
	if s, err := Secret("", open, &warn); err != nil || s != "s3cret" {
		t.Fatalf("Secret = %q, %v", s, err)
	}
	if !strings.Contains(warn.String(), "can be read by others") {
		t.Errorf("no warning for a secret file of mode 644: %q", warn.String())
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	if _, err := Secret("", empty, io.Discard); err == nil {
		t.Error("an empty secret file was accepted")
	}
	if s, err := Secret("direct", "", io.Discard); err != nil || s != "direct" {
		t.Errorf("Secret(direct) = %q, %v", s, err)
	}
}

// TestOnLink: readiness follows the links (ready while any is up); the
// recovery is logged at the level of the failures.
func TestOnLink(t *testing.T) {
	var logs strings.Builder
	h := NewHealth("starting")
	f := OnLink(Logger(&logs, false), h, "svc.example.org")
	f(component.LinkEvent{Up: true, Link: 1, LinksUp: 1})
	if ok, _ := h.Ready(); !ok {
		t.Fatal("not ready after the link came up")
	}
	f(component.LinkEvent{Link: 1, Err: errors.New("connection reset")})
	if ok, why := h.Ready(); ok || !strings.Contains(why, "connection reset") {
		t.Fatalf("ready %v (%s) after the link went down", ok, why)
	}
	f(component.LinkEvent{Up: true, Link: 2, LinksUp: 1})
	last := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if l := last[len(last)-1]; !strings.Contains(l, "level=WARN") || !strings.Contains(l, "link restored") || !strings.Contains(l, `after="connection reset"`) {
		t.Fatalf("last line %q", l)
	}

	// Several links: one lost while another is up leaves the service
	// ready; the last one lost does not.
	f(component.LinkEvent{Up: true, Link: 3, Slot: 1, LinksUp: 2})
	f(component.LinkEvent{Link: 2, Slot: 0, LinksUp: 1, Err: errors.New("broken pipe")})
	if ok, why := h.Ready(); !ok {
		t.Fatalf("not ready (%s) with one of two links up", why)
	}
	f(component.LinkEvent{Link: 3, Slot: 1, LinksUp: 0, Err: errors.New("eof")})
	if ok, why := h.Ready(); ok || !strings.Contains(why, "eof") {
		t.Fatalf("ready %v (%s) with no link up", ok, why)
	}
	f(component.LinkEvent{Up: true, Link: 4, Slot: 0, LinksUp: 1})
	if ok, _ := h.Ready(); !ok {
		t.Fatal("not ready after a link came back")
	}
	if !strings.Contains(logs.String(), `down_for=`) || strings.Count(logs.String(), "link restored") != 2 {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{"pubsub.localhost": "localhost", "irc.example.org": "example.org", "bare": "localhost"} {
		if got := HostOf(in); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", in, got, want)
		}
	}
}
