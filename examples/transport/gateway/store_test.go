package gateway

import (
	"fmt"
	"testing"
)

func TestJournalStoreReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenJournalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ { // enough changes to compact
		if err := s.Put(Registration{JID: "a@localhost", Nick: fmt.Sprintf("n%d", i), Password: "pw"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(Registration{JID: "b@localhost", Nick: "bee", Server: "irc.example"})
	s.Put(Registration{JID: "c@localhost", Nick: "sea"})
	s.Delete("c@localhost")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenJournalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, ok := s.Get("a@localhost"); !ok || r.Nick != "n99" || r.Password != "pw" {
		t.Errorf("a: %+v %v", r, ok)
	}
	if r, ok := s.Get("b@localhost"); !ok || r.Server != "irc.example" {
		t.Errorf("b: %+v %v", r, ok)
	}
	if _, ok := s.Get("c@localhost"); ok {
		t.Error("c survived Delete")
	}
}
