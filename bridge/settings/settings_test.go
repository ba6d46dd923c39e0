package settings

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
)

// TestSealedOnDisk: secret values survive a reopen, never appear in the
// journal in clear, and another key cannot open them.
func TestSealedOnDisk(t *testing.T) {
	dir := t.TempDir()
	secret := func(k string) bool { return k == "password" }
	s, err := Open(dir, Options{Secret: secret, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("alice@localhost", "server/libera", Values{"nick": "alice", "password": "hunter2-secret"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("bob@localhost", "", Values{"nick": "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("bob@localhost", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), "hunter2-secret") {
				t.Errorf("%s holds the password in clear", p)
			}
		}
		return nil
	})
	if fi, err := os.Stat(filepath.Join(dir, "secret.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	s, err = Open(dir, Options{Secret: secret, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Get("alice@localhost", "server/libera"); v["password"] != "hunter2-secret" || v["nick"] != "alice" {
		t.Errorf("after reopen: %v", v)
	}
	if len(s.Users()) != 1 {
		t.Errorf("users: %v", s.Users())
	}
	s.Close()
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := Open(dir, Options{Secret: secret, NoSync: true, KeyFile: other}); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Errorf("opened with another key: %v", err)
	}
}

// TestSchemaApply: a submission updates the values; an empty secret keeps
// the stored one and "-" clears it; checks refuse bad values.
func TestSchemaApply(t *testing.T) {
	sc := Schema{Fields: []Field{
		{Var: "nick", Type: form.TextSingle, Check: func(v string) error {
			if strings.Contains(v, " ") {
				return os.ErrInvalid
			}
			return nil
		}},
		{Var: "pw", Type: form.TextPrivate, Secret: true},
		{Var: "cmds", Type: form.TextMulti},
		{Var: "on", Type: form.Boolean},
	}}
	old := Values{"nick": "a", "pw": "s3"}
	f := sc.Form(old)
	if fl := f.Field("pw"); len(fl.Values) != 0 || !strings.Contains(fl.Label, "set") {
		t.Errorf("secret shown: %+v", fl)
	}
	sub := &form.Form{Type: form.TypeSubmit}
	sub.Set("", "nick", "b")
	sub.Set("", "pw", "")
	sub.Set("", "cmds", "one", "two")
	sub.Set("", "on", "true")
	nv, err := sc.Apply(old, sub)
	if err != nil || nv["nick"] != "b" || nv["pw"] != "s3" || nv["cmds"] != "one\ntwo" || nv["on"] != "1" {
		t.Errorf("apply: %v %v", nv, err)
	}
	if nv.Lines("cmds")[1] != "two" || !nv.Bool("on", false) {
		t.Errorf("readers: %v", nv)
	}
	sub.Set("", "pw", "-")
	if nv, _ := sc.Apply(old, sub); nv["pw"] != "" {
		t.Errorf("clear: %v", nv)
	}
	sub.Set("", "nick", "b c")
	if _, err := sc.Apply(old, sub); err == nil {
		t.Error("check not applied")
	}
}

// TestCommandCancelForm: a form of type cancel submitted to the settings
// command is stored like a submit form (XEP-0050 §3.5.1: responders SHOULD
// consider <x type='cancel'/> to be <x type='submit'/>), and the
// command completes; a submit form is stored the same way.
func TestCommandCancelForm(t *testing.T) {
	st := NewMemory()
	sc := Schema{Title: "t", Fields: []Field{{Var: "nick", Type: form.TextSingle}}}
	var told []string
	h := st.Command(sc, func(r *command.Request) (string, string, error) { return r.From.Bare().String(), "", nil },
		func(user, scope string, v Values) { told = append(told, user+"="+v["nick"]) })
	from := jid.MustParse("alice@localhost/phone")
	for i, typ := range []form.Type{form.TypeCancel, form.TypeSubmit} {
		sub := &form.Form{Type: typ}
		nick := "nick" + string(rune('a'+i))
		sub.Set("", "nick", nick)
		resp, err := h.Execute(context.Background(), &command.Request{From: from, Node: "configure", Action: command.ActionExecute, Form: sub})
		if err != nil {
			t.Fatalf("%s form: %v", typ, err)
		}
		if resp.Status != command.Completed && resp.Status != "" {
			t.Errorf("%s form: status %q, want completed", typ, resp.Status)
		}
		if got := st.Get("alice@localhost", "")["nick"]; got != nick {
			t.Errorf("%s form: stored nick %q, want %q", typ, got, nick)
		}
	}
	if len(told) != 2 || told[0] != "alice@localhost=nicka" {
		t.Errorf("changed hook: %v", told)
	}
}
