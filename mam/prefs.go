package mam

import (
	"context"
	"slices"
	"sync"

	"xmppkit.dev/internal/elem"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/stanza"
)

// The default archiving behaviours of XEP-0441 §2.1.1.
const (
	DefaultAlways = "always" // archive every message
	DefaultNever  = "never"  // archive none
	DefaultRoster = "roster" // archive a message only when the contact is in the user's roster
)

// Prefs are a user's archiving preferences (XEP-0441 §2.1): the JIDs whose
// messages are always archived, those never archived, and the default for
// the others.
type Prefs struct {
	Default string // DefaultAlways, DefaultNever or DefaultRoster
	Always  []jid.JID
	Never   []jid.JID
}

// Archives reports whether a message with target (the to of an outgoing
// message, the from of an incoming one, §2.3.2, §2.3.3) is to be archived;
// inRoster says whether target's bare JID is in the user's roster, for the
// default roster. A listed bare JID matches any resource, a full JID only
// itself (§2.3.1); a JID in both lists is never archived.
func (p Prefs) Archives(target jid.JID, inRoster bool) bool {
	match := func(l []jid.JID) bool {
		return slices.ContainsFunc(l, func(j jid.JID) bool {
			if j.Resource() == "" {
				return j.Equal(target.Bare())
			}
			return j.Equal(target)
		})
	}
	switch {
	case match(p.Never):
		return false
	case match(p.Always):
		return true
	}
	switch p.Default {
	case DefaultAlways:
		return true
	case DefaultRoster:
		return inRoster
	}
	return false
}

// PrefsStore keeps archiving preferences per archive (a user's bare JID).
// A Handler with one answers XEP-0441 <prefs/> requests.
type PrefsStore interface {
	// Prefs returns the archive's preferences.
	Prefs(ctx context.Context, archive jid.JID) (Prefs, error)
	// SetPrefs replaces them and returns the preferences applied, which
	// the service's policy may have changed (§2.1).
	SetPrefs(ctx context.Context, archive jid.JID, p Prefs) (Prefs, error)
}

// MemoryPrefs is a PrefsStore in memory; an archive without preferences
// has Default (DefaultAlways when empty) and empty lists. Its zero value is
// ready to use.
type MemoryPrefs struct {
	Default string
	m       sync.Map // bare JID string -> Prefs
}

// Prefs implements PrefsStore.
func (m *MemoryPrefs) Prefs(_ context.Context, archive jid.JID) (Prefs, error) {
	if p, ok := m.m.Load(archive.Bare().String()); ok {
		return p.(Prefs), nil
	}
	d := m.Default
	if d == "" {
		d = DefaultAlways
	}
	return Prefs{Default: d}, nil
}

// SetPrefs implements PrefsStore.
func (m *MemoryPrefs) SetPrefs(_ context.Context, archive jid.JID, p Prefs) (Prefs, error) {
	p.Always, p.Never = slices.Clone(p.Always), slices.Clone(p.Never)
	m.m.Store(archive.Bare().String(), p)
	return p, nil
}

// ParsePrefs reads a <prefs xmlns='urn:xmpp:mam:2'/> element (XEP-0441
// §2.1). A default other than always, never and roster is bad-request, a
// JID that does not parse jid-malformed; missing lists are empty
// (§2.1.2, §2.1.3).
func ParsePrefs(raw string) (Prefs, error) {
	n, err := elem.Parse(raw, stanza.NSClient)
	if err != nil {
		return Prefs{}, badRequest("unreadable prefs: " + err.Error())
	}
	if n.Space != NS || n.Local != "prefs" {
		return Prefs{}, badRequest("not a <prefs xmlns='" + NS + "'/>")
	}
	var p Prefs
	if p.Default, _, err = n.Attr("default"); err != nil {
		return Prefs{}, badRequest("unreadable default")
	}
	switch p.Default {
	case DefaultAlways, DefaultNever, DefaultRoster:
	default:
		return Prefs{}, badRequest("default must be always, never or roster")
	}
	for _, k := range n.Kids {
		if k.Space != NS || (k.Local != "always" && k.Local != "never") {
			continue
		}
		list, err := n.Child(k)
		if err != nil {
			return Prefs{}, badRequest("unreadable <" + k.Local + "/>")
		}
		for _, jk := range list.Kids {
			if jk.Space != NS || jk.Local != "jid" {
				continue
			}
			jn, err := list.Child(jk)
			if err != nil {
				return Prefs{}, badRequest("unreadable <jid/>")
			}
			text, err := jn.Text()
			if err != nil {
				return Prefs{}, badRequest("unreadable <jid/>")
			}
			j, err := jid.Parse(text)
			if err != nil {
				return Prefs{}, stanza.NewError(stanza.JIDMalformed, "mam: "+err.Error())
			}
			if k.Local == "always" {
				p.Always = append(p.Always, j)
			} else {
				p.Never = append(p.Never, j)
			}
		}
	}
	return p, nil
}

// Element returns the preferences as their <prefs/> element, with both
// lists present (§2.1).
func (p Prefs) Element() stanza.Element {
	b := stanza.NewBuilder(NS, "prefs").Attr("default", p.Default)
	for _, l := range []struct {
		name string
		jids []jid.JID
	}{{"always", p.Always}, {"never", p.Never}} {
		b.Child("", l.name)
		for _, j := range l.jids {
			b.TextElement("jid", j.String())
		}
		b.End()
	}
	return b.Element()
}

// prefs answers a <prefs/> get or set (XEP-0441 §2.1).
func (h *Handler) prefs(ctx context.Context, s mux.Sender, iq *stanza.Stanza, el stanza.Element, archive jid.JID) error {
	if h.Prefs == nil {
		return stanza.NewError(stanza.FeatureNotImplemented, "mam: no archiving preferences here")
	}
	if err := h.allow(ctx, iq.From, archive, ""); err != nil {
		return err
	}
	var p Prefs
	var err error
	if iq.Type == stanza.TypeSet {
		if p, err = ParsePrefs(el.XML()); err != nil {
			return err
		}
		p, err = h.Prefs.SetPrefs(ctx, archive, p)
	} else {
		p, err = h.Prefs.Prefs(ctx, archive)
	}
	if err != nil {
		return err
	}
	return s.Send(ctx, iq.Result(p.Element()))
}
