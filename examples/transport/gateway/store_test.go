package gateway

import (
	"fmt"
	"path/filepath"
	"testing"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/settings"
	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
)

// account is a registration as the kit's store keeps it.
func account(j, nick, password, server string) bridge.Account {
	return bridge.Account{JID: jid.MustParse(j), Values: map[string]string{"nick": nick, "password": password, "server": server}}
}

// stored reads a registration back from a store.
func stored(s Store, j string) (Registration, bool) {
	a, ok := s.Get(jid.MustParse(j))
	return registrationOf(a), ok
}

func TestJournalStoreReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenJournalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ { // enough changes to compact
		if err := s.Put(account("a@localhost", fmt.Sprintf("n%d", i), "pw", "")); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(account("b@localhost", "bee", "", "irc.example"))
	s.Put(account("c@localhost", "sea", "", ""))
	s.Delete(jid.MustParse("c@localhost"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenJournalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, ok := stored(s, "a@localhost"); !ok || r.Nick != "n99" || r.Password != "pw" {
		t.Errorf("a: %+v %v", r, ok)
	}
	if r, ok := stored(s, "b@localhost"); !ok || r.Server != "irc.example" {
		t.Errorf("b: %+v %v", r, ok)
	}
	if _, ok := stored(s, "c@localhost"); ok {
		t.Error("c survived Delete")
	}
}

// TestJournalStoreLegacy: registrations written by the gateway before it
// used the kit's store (its own record format, the password sealed or in
// clear) are read, and a removal recorded then is honoured.
func TestJournalStoreLegacy(t *testing.T) {
	dir := t.TempDir()
	sealer, err := settings.NewSealer(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := journal.Open(dir, journal.Options{}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []string{
		`{"op":"put","reg":{"jid":"a@localhost","nick":"ay","password":"` + sealer.Seal("secret") + `","server":"irc.example"}}`,
		`{"op":"put","reg":{"jid":"b@localhost","nick":"bee","password":"clear"}}`,
		`{"op":"put","reg":{"jid":"c@localhost","nick":"sea"}}`,
		`{"op":"del","reg":{"jid":"c@localhost"}}`,
	} {
		if err := log.AppendSync([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	log.Close()
	s, err := OpenSealedJournalStore(dir, journal.Options{}, sealer)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, ok := stored(s, "a@localhost"); !ok || r.Nick != "ay" || r.Password != "secret" || r.Server != "irc.example" {
		t.Errorf("a: %+v %v", r, ok)
	}
	if r, ok := stored(s, "b@localhost"); !ok || r.Password != "clear" {
		t.Errorf("b: %+v %v", r, ok)
	}
	if _, ok := stored(s, "c@localhost"); ok {
		t.Error("c's removal was lost")
	}
}
