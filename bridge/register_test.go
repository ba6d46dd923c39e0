package bridge_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/bridgetest"
	"xmppkit.dev/bridge/settings"
	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
	"xmppkit.dev/stanza"
)

func submit(values map[string]string) *form.Form {
	f := &form.Form{Type: form.TypeSubmit}
	for k, v := range values {
		f.Set(form.TextSingle, k, v)
	}
	return f
}

// TestTwoStepRegistration: a network that sends a code registers in two
// XEP-0050 stages; XEP-0077 takes the first and points to the command,
// which continues from there.
func TestTwoStepRegistration(t *testing.T) {
	netw := bridgetest.NewNetwork()
	netw.TwoFactor = true
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", Network: netw, Registration: bridgetest.Fields()})
	netw.Account("alice")
	u := env.Client("alice")
	err := u.Register(map[string]string{"username": "alice", "password": "pw"})
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.NotAcceptable || !strings.Contains(se.Text, "Register") {
		t.Fatalf("XEP-0077 with a second step: %v", err)
	}
	gw := env.Gateway.Domain()
	st, err := command.Execute(ctx(t), u, gw, bridge.CommandRegister)
	if err != nil {
		t.Fatal(err)
	}
	if st.Form == nil || st.Form.Field("code") == nil {
		t.Fatalf("the command did not continue with the code: %+v", st.Form)
	}
	// A wrong code: the session stays, the user may try again.
	if _, err := st.Next(ctx(t), u, submit(map[string]string{"code": "000000"})); command.Specific(err) != "bad-payload" {
		t.Fatalf("wrong code: %v", err)
	}
	done, err := st.Next(ctx(t), u, submit(map[string]string{"code": "123456"}))
	if err != nil || !done.Ended() {
		t.Fatalf("right code: %v %+v", err, done)
	}
	acct, ok := env.Gateway.Store().Get(jid.MustParse("alice@localhost"))
	if !ok || acct.Values["token"] != "token-alice" || acct.Values["code"] != "" {
		t.Fatalf("account %+v", acct)
	}
	u.Subscribe()
	u.Available(0)
	u.WaitConnected()

	// From scratch: the registration form, then the code.
	v := env.Client("victor")
	netw.Account("victor")
	st, err = command.Execute(ctx(t), v, gw, bridge.CommandRegister)
	if err != nil || st.Form.Field("username") == nil {
		t.Fatalf("first stage: %v %+v", err, st)
	}
	st, err = st.Next(ctx(t), v, submit(map[string]string{"username": "victor", "password": "pw"}))
	if err != nil || st.Form.Field("code") == nil {
		t.Fatalf("second stage: %v %+v", err, st)
	}
	if st, err = st.Next(ctx(t), v, submit(map[string]string{"code": "123456"})); err != nil || !st.Ended() {
		t.Fatalf("end: %v", err)
	}
}

// TestAccountsOnDisk: accounts survive a restart in the journal, with the
// password sealed; unregistering removes them.
func TestAccountsOnDisk(t *testing.T) {
	dir := t.TempDir()
	sealer, err := settings.NewSealer(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	open := func() *bridge.JournalStore {
		s, err := bridge.OpenStore(filepath.Join(dir, "accounts"), bridge.StoreOptions{Sealer: sealer,
			Secret: func(f string) bool { return f == "password" }, Journal: journal.Options{NoSync: true}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	alice := jid.MustParse("alice@localhost")
	if err := s.Put(bridge.Account{JID: alice, Values: map[string]string{"username": "alice", "password": "hunter2"}, Told: []string{"roster"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw := readAll(t, filepath.Join(dir, "accounts"))
	if strings.Contains(raw, "hunter2") || !strings.Contains(raw, "alice") {
		t.Fatalf("the password is on disk in clear")
	}
	s = open()
	a, ok := s.Get(alice)
	if !ok || a.Values["password"] != "hunter2" || len(a.Told) != 1 {
		t.Fatalf("after reopening: %+v", a)
	}
	if err := s.Delete(alice); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, ok := open().Get(alice); ok {
		t.Fatal("deleted account came back")
	}

	// The gateway with DataDir keeps accounts across restarts.
	data := t.TempDir()
	env := bridgetest.New(t, bridge.Config{Name: "Memnet", DataDir: data})
	env.Network().Account("alice")
	env.Register("alice", map[string]string{"username": "alice", "password": "pw"})
	env.Gateway.Close()
	gw, err := bridge.New(bridge.Config{Domain: "bridge.localhost", Network: bridgetest.NewNetwork(), DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	if _, ok := gw.Store().Get(alice); !ok {
		t.Fatal("the registration did not survive the restart")
	}
}

// TestUnregister: XEP-0077 remove logs the user out and forgets them.
func TestUnregister(t *testing.T) {
	env, acc, u := setup(t)
	if _, err := u.IQ(stanza.TypeSet, "<query xmlns='jabber:iq:register'><remove/></query>"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the logout", func() bool { return !acc.Online() })
	if _, ok := env.Gateway.Store().Get(u.JID()); ok {
		t.Fatal("still registered")
	}
	u.Expect(func(st *stanza.Stanza) bool {
		return st.Kind == stanza.Presence && st.Type == stanza.TypeUnsubscribed && st.From.Equal(env.Gateway.Domain())
	}, "the gateway's unsubscribed")
}

func readAll(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	entries, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, e := range entries {
		data, _ := os.ReadFile(e)
		b.Write(data)
	}
	return b.String()
}
