package gateway

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"xmppkit.dev/bridge/archive"
	"xmppkit.dev/bridge/settings"
	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mam"
	"xmppkit.dev/servertest"
	"xmppkit.dev/stanza"
	"xmppkit.dev/xmpptest"
)

// TestPersistentAcrossRestart: with settings and history on disk, a
// channel the user made persistent is joined again when the gateway
// starts, with nobody online, and the history recorded before the restart
// is still served.
func TestPersistentAcrossRestart(t *testing.T) {
	checkNoLeaks(t)
	ircd := servertest.Ngircd(t, servertest.NgircdOptions{})
	dir := t.TempDir()
	start := func() (*Gateway, *xmpptest.Env, func()) {
		st, err := settings.Open(filepath.Join(dir, "settings"), settings.Options{Secret: SecretSettings, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		mj, err := mam.OpenJournal(filepath.Join(dir, "archive"), mam.JournalOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := hostConfigPlain(ircd.Addr)
		cfg.Settings, cfg.Archive = st, &archive.Archive{Store: mj}
		gw, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		env := xmpptest.New(t, "irc.localhost", gw, xmpptest.WithLogger(quietLogger()))
		return gw, env, func() { gw.Close(); st.Close(); mj.Close() }
	}
	bob := ircPeer(t, ircd.Addr, "rsbob")
	bob.send("JOIN #rs")
	bob.expect("366 rsbob #rs")

	_, env, stop := start()
	d := &dev{t: t, c: env.Client("alice/x")}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := command.Execute(ctx, d.c, jid.MustParse("#rs@irc.localhost"), "configure")
	if err != nil {
		t.Fatal(err)
	}
	sub := &form.Form{Type: form.TypeSubmit}
	sub.Set("", setPersistent, "1")
	if _, err := st.Complete(ctx, d.c, sub); err != nil {
		t.Fatal(err)
	}
	d.join("#rs@irc.localhost/alice")
	d.joinSequence("#rs@irc.localhost", "alice", []string{"rsbob"}, "110", "170")
	bob.send("PRIVMSG #rs :before the restart")
	d.body("#rs@irc.localhost/rsbob", "before the restart")
	stop()
	bob.expect(" QUIT ")

	_, env2, stop2 := start()
	defer stop2()
	if l := bob.expect(" JOIN :#rs"); l[:7] != ":alice!" {
		t.Errorf("rejoined by someone else: %s", l)
	}
	time.Sleep(100 * time.Millisecond)
	bob.send("PRIVMSG #rs :while nobody is online")
	time.Sleep(200 * time.Millisecond)
	d2 := &dev{t: t, c: env2.Client("alice/y")}
	d2.join("#rs@irc.localhost/alice")
	d2.joinSequence("#rs@irc.localhost", "alice", []string{"rsbob"}, "110")
	got := mamQuery(t, d2, "#rs@irc.localhost", 10)
	if len(got) != 2 || got[0] != "before the restart" || got[1] != "while nobody is online" {
		t.Errorf("MAM after the restart: %q", got)
	}
	_ = stanza.TypeGroupchat
}
