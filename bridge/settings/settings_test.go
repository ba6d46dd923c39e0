package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"xmppkit.dev/form"
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
