package stanza

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"xmppkit.dev/jid"
)

func TestConditionsDefaultType(t *testing.T) {
	if len(Conditions) != 22 {
		t.Fatalf("%d conditions, RFC 6120 §8.3.3 defines 22", len(Conditions))
	}
	want := map[Condition]ErrorType{
		BadRequest: Modify, Forbidden: Auth, ItemNotFound: Cancel,
		RecipientUnavailable: Wait, Redirect: Modify, ServiceUnavailable: Cancel,
		UnexpectedRequest: Wait, ResourceConstraint: Wait, Gone: Cancel,
	}
	for _, c := range Conditions {
		if c.DefaultType() == "" {
			t.Errorf("%s has no default type", c)
		}
		if w, ok := want[c]; ok && c.DefaultType() != w {
			t.Errorf("%s: type %s, want %s", c, c.DefaultType(), w)
		}
	}
	if Condition("nope").DefaultType() != "" {
		t.Error("unknown condition has a default type")
	}
}

func TestErrorIsAs(t *testing.T) {
	err := fmt.Errorf("handler: %w", NewError(ItemNotFound, "no such node"))
	if !errors.Is(err, ErrItemNotFound) {
		t.Error("errors.Is by condition failed")
	}
	if errors.Is(err, ErrBadRequest) {
		t.Error("errors.Is matched another condition")
	}
	var se *Error
	if !errors.As(err, &se) || se.Text != "no such node" || se.Type != Cancel {
		t.Errorf("errors.As = %+v", se)
	}
	if got := se.Error(); got != "stanza error: cancel item-not-found: no such node" {
		t.Errorf("Error() = %q", got)
	}
}

func TestErrorRoundTrip(t *testing.T) {
	for _, c := range Conditions {
		e := &Error{Type: c.DefaultType(), Condition: c}
		switch c {
		case Gone, Redirect:
			e.Redirect = "xmpp:room@conf.example.com?join"
		case BadRequest:
			e.Text, e.Lang = "missing <field> & more", "en"
			e.App = `<too-many-subscriptions xmlns='http://jabber.org/protocol/pubsub#errors'/>`
		case Forbidden:
			e.By = jid.MustParse("pubsub.example.com")
			e.Type = Cancel
		}
		got, err := ParseError(string(e.AppendXML(nil)))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if *got != *e {
			t.Errorf("%s round trip:\n got %+v\nwant %+v", c, got, e)
		}
	}
}

func TestErrClientStyle(t *testing.T) {
	// An error as Prosody sends it, with an application condition.
	raw := `<iq type='error' id='x' from='pubsub.localhost' to='a@localhost/r'><error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Component unavailable</text><not-connected xmlns='xmpp:prosody.im/protocol/component'/></error></iq>`
	s, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	e := s.Err()
	if e == nil || e.Type != Wait || e.Condition != RemoteServerTimeout || e.Text != "Component unavailable" ||
		e.App != `<not-connected xmlns='xmpp:prosody.im/protocol/component'/>` {
		t.Errorf("Err() = %+v", e)
	}
	if !errors.Is(e, ErrRemoteServerTimeout) {
		t.Error("not matched by sentinel")
	}
	if _, ok := s.PayloadElement(); ok {
		t.Error("error IQ without original payload has a payload")
	}
	for _, bad := range []string{`<error>`, `<x/>`, `<error by='@@'/>`} {
		if _, err := ParseError(bad); err == nil {
			t.Errorf("ParseError(%q) accepted", bad)
		}
	}
	if e, err := ParseError(`<error type='cancel'/>`); err != nil || e.Condition != UndefinedCondition {
		t.Errorf("no condition: %+v %v", e, err)
	}
	enc := string((&Error{}).AppendXML(nil))
	if !strings.Contains(enc, "undefined-condition") || !strings.Contains(enc, "type='cancel'") {
		t.Errorf("zero Error encodes as %s", enc)
	}
}
