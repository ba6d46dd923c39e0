package main

import (
	"io"
	"strings"
	"testing"
)

// TestStoreFlag: -store takes a PostgreSQL URL only, excludes -memory, and
// what is printed of it hides the password.
func TestStoreFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // "" for none
	}{
		{[]string{"-store", "postgres://u@db.example/pubsub"}, ""},
		{[]string{"-store", "postgresql://u@db.example/pubsub?sslmode=require"}, ""},
		{[]string{"-store", "mysql://u:hunter2@db.example/pubsub"}, "not a postgres"},
		{[]string{"-store", "postgres://u@db.example/pubsub", "-memory"}, "exclude each other"},
	} {
		cfg, err := parseConfig(tc.args, io.Discard)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.err == "" && cfg.store != tc.args[1]:
			t.Errorf("%v: store %q", tc.args, cfg.store)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%v: the error shows the password: %v", tc.args, err)
		}
	}
	if got := redactURL("postgres://u:hunter2@db.example/pubsub"); strings.Contains(got, "hunter2") || !strings.Contains(got, "db.example") {
		t.Errorf("redactURL: %q", got)
	}
}
