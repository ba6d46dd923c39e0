package privilege

import (
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strings"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// The two namespaces of XEP-0356 that servers speak. A server advertises in
// one of them and the component answers in the same.
const (
	// NS1 is XEP-0356 v0.2 (§10.1), spoken by ejabberd 23.01 (its
	// mod_privilege says v0.2.1): roster, message and presence permissions.
	NS1 = "urn:xmpp:privilege:1"
	// NS2 is XEP-0356 v0.4, spoken by Prosody's mod_privilege
	// (prosody-modules): adds the iq permission (privileged IQs) and roster
	// pushes to the privileged entity.
	NS2 = "urn:xmpp:privilege:2"
)

// NSRoster is the roster namespace of RFC 6121 §2.
const NSRoster = "jabber:iq:roster"

// Access is a permission on an IQ namespace: the roster (XEP-0356 §3.1,
// "none", "get", "set" or "both") and, in v0.4, each namespace of the iq
// permission.
type Access uint8

// The values of an Access.
const (
	None Access = iota // no access (the default)
	Get                // iq get only
	Set                // iq set only
	Both               // iq get and set
)

// CanGet reports whether the access allows iq get.
func (a Access) CanGet() bool { return a == Get || a == Both }

// CanSet reports whether the access allows iq set.
func (a Access) CanSet() bool { return a == Set || a == Both }

// Allows reports whether the access allows an iq of the type ("get" or
// "set").
func (a Access) Allows(iqType string) bool {
	switch iqType {
	case stanza.TypeGet:
		return a.CanGet()
	case stanza.TypeSet:
		return a.CanSet()
	}
	return false
}

// String returns the wire value: "none", "get", "set" or "both".
func (a Access) String() string {
	switch a {
	case Get:
		return "get"
	case Set:
		return "set"
	case Both:
		return "both"
	}
	return "none"
}

// intersect returns what both a and b allow.
func (a Access) intersect(b Access) Access {
	g, s := a.CanGet() && b.CanGet(), a.CanSet() && b.CanSet()
	switch {
	case g && s:
		return Both
	case g:
		return Get
	case s:
		return Set
	}
	return None
}

func parseAccess(s string) (Access, bool) {
	switch s {
	case "none":
		return None, true
	case "get":
		return Get, true
	case "set":
		return Set, true
	case "both":
		return Both, true
	}
	return None, false
}

// Presence is the presence permission (XEP-0356 §6): which presences the
// server sends to the privileged entity.
type Presence uint8

// The values of a Presence permission, from least to most.
const (
	NoPresence     Presence = iota // "none" (the default)
	ManagedEntity                  // "managed_entity": the presences of the server's users (§6.1)
	RosterContacts                 // "roster": those and the presences of their contacts (§6.4)
)

// String returns the wire value: "none", "managed_entity" or "roster".
func (p Presence) String() string {
	switch p {
	case ManagedEntity:
		return "managed_entity"
	case RosterContacts:
		return "roster"
	}
	return "none"
}

func parsePresence(s string) (Presence, bool) {
	switch s {
	case "none":
		return NoPresence, true
	case "managed_entity":
		return ManagedEntity, true
	case "roster":
		return RosterContacts, true
	}
	return NoPresence, false
}

// Grants are the permissions one server granted to the component, as its
// last advertisement said (XEP-0356 §3.2, §4.2, §6.2). The zero Grants
// grant nothing. Grants are values: the map is never changed once the
// Grants are published, and must not be changed by their readers.
type Grants struct {
	// Server is the server that granted them (the from of the
	// advertisement): they apply to the accounts of that domain.
	Server jid.JID
	// Version is the namespace the server advertised in, NS1 or NS2, and
	// the one the component speaks to it; "" when nothing was advertised.
	Version string
	// Roster is the access to the rosters of the server's users
	// (jabber:iq:roster, §3).
	Roster Access
	// RosterPush is whether the server sends the component the roster
	// pushes of its users (v0.4 'push' attribute; true by default with
	// get or both in v0.4; never in v0.2, which has no pushes).
	RosterPush bool
	// Message is whether the component may send messages on behalf of the
	// server and of its users' bare JIDs ("outgoing", §4).
	Message bool
	// Presence is which presences the server sends the component (§6).
	Presence Presence
	// IQ maps namespaces to the access for privileged IQs on behalf of the
	// server's users (v0.4 iq permission; nil in v0.2).
	IQ map[string]Access
}

// IQAccess returns the access for privileged IQs whose payload is in the
// namespace.
func (g Grants) IQAccess(ns string) Access { return g.IQ[ns] }

// Any reports whether the grants allow anything at all.
func (g Grants) Any() bool {
	return g.Roster != None || g.Message || g.Presence != NoPresence || len(g.IQ) > 0
}

// Equal reports whether g and o grant the same, from the same server in the
// same version.
func (g Grants) Equal(o Grants) bool {
	return g.Server.Equal(o.Server) && g.Version == o.Version && g.Roster == o.Roster &&
		g.RosterPush == o.RosterPush && g.Message == o.Message && g.Presence == o.Presence &&
		maps.Equal(g.IQ, o.IQ)
}

// String describes the grants for logs, e.g.
// "localhost (urn:xmpp:privilege:2): roster=both push message=outgoing presence=roster iq[jabber:iq:private]=both".
func (g Grants) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s):", g.Server, g.Version)
	if !g.Any() {
		b.WriteString(" nothing")
		return b.String()
	}
	if g.Roster != None {
		fmt.Fprintf(&b, " roster=%s", g.Roster)
		if g.RosterPush {
			b.WriteString(" push")
		}
	}
	if g.Message {
		b.WriteString(" message=outgoing")
	}
	if g.Presence != NoPresence {
		fmt.Fprintf(&b, " presence=%s", g.Presence)
	}
	for _, ns := range slices.Sorted(maps.Keys(g.IQ)) {
		fmt.Fprintf(&b, " iq[%s]=%s", ns, g.IQ[ns])
	}
	return b.String()
}

// Wire shapes of the advertisement for encoding/xml. Child elements are
// matched by local name; their namespace is checked against the
// <privilege/> element's.
type wirePrivilege struct {
	XMLName xml.Name
	Perms   []wirePerm `xml:"perm"`
}

type wirePerm struct {
	XMLName xml.Name
	Access  string   `xml:"access,attr"`
	Type    *string  `xml:"type,attr"`
	Push    *string  `xml:"push,attr"`
	NS      []wireNS `xml:"namespace"`
}

// wireNS is a v0.4 <namespace ns='…' type='…'/> of an iq permission.
// Nested is for Prosody's mod_privilege, which writes every <namespace/>
// after the first inside the one before (a missing :up()).
type wireNS struct {
	XMLName xml.Name
	NS      string   `xml:"ns,attr"`
	Type    string   `xml:"type,attr"`
	Nested  []wireNS `xml:"namespace"`
}

// ParseAdvertisement reads a <privilege/> advertisement element
// (XEP-0356 §3.2, §4.2, §6.2; v0.4 adds the iq permission and the push
// attribute) from server. It believes no more than the element says:
//
//   - a permission or type it does not know grants nothing;
//   - a permission named twice gets what both say (the stricter);
//   - the v0.4 iq permission and push attribute count only in NS2;
//   - roster pushes are on by default only for get or both in NS2.
//
// A <namespace/> inside another (Prosody's mod_privilege nests every
// namespace after the first) is read as its sibling. Ignored parts are
// returned as notes for the log. It returns an error for an element that
// is not <privilege/> in NS1 or NS2, or that is not well-formed.
func ParseAdvertisement(server jid.JID, el stanza.Element) (Grants, []string, error) {
	if el.Local != "privilege" || (el.Space != NS1 && el.Space != NS2) {
		return Grants{}, nil, fmt.Errorf("privilege: <%s xmlns='%s'/> is no advertisement", el.Local, el.Space)
	}
	var w wirePrivilege
	if err := el.Unmarshal(&w); err != nil {
		return Grants{}, nil, fmt.Errorf("privilege: unreadable advertisement: %w", err)
	}
	g := Grants{Server: server, Version: el.Space}
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	seen := map[string]bool{}
	v2 := el.Space == NS2
	pushSet, push := false, false
	iq := map[string]Access{} // every namespace named, None included, so that a repeat is intersected
	for _, p := range w.Perms {
		if p.XMLName.Space != el.Space {
			note("ignored <perm/> in namespace %q", p.XMLName.Space)
			continue
		}
		typ := ""
		if p.Type != nil {
			typ = *p.Type
		}
		first := !seen[p.Access]
		seen[p.Access] = true
		switch p.Access {
		case "roster":
			a, ok := parseAccess(typ)
			if !ok {
				note("unknown roster type %q: no roster access", typ)
			}
			g.Roster = stricter(first, g.Roster, a, Access.intersect, "roster", note)
			if p.Push != nil {
				if !v2 {
					note("push attribute ignored in %s", el.Space)
				} else {
					v, ok := parseBool(*p.Push)
					if !ok {
						note("unknown push value %q: no pushes", *p.Push)
					}
					if pushSet {
						v = v && push
					}
					pushSet, push = true, v
				}
			}
		case "message":
			ok := typ == "outgoing"
			if !ok && typ != "none" {
				note("unknown message type %q: no message permission", typ)
			}
			g.Message = stricter(first, g.Message, ok, func(a, b bool) bool { return a && b }, "message", note)
		case "presence":
			pr, ok := parsePresence(typ)
			if !ok {
				note("unknown presence type %q: no presence permission", typ)
			}
			g.Presence = stricter(first, g.Presence, pr, func(a, b Presence) Presence { return min(a, b) }, "presence", note)
		case "iq":
			if !v2 {
				note("iq permission ignored in %s (it is XEP-0356 v0.4)", el.Space)
				continue
			}
			if !first {
				note("iq permission given twice: namespaces merged, the stricter kept")
			}
			var walk func(list []wireNS, depth int)
			walk = func(list []wireNS, depth int) {
				for _, n := range list {
					if n.XMLName.Space != el.Space {
						note("ignored <namespace/> in namespace %q", n.XMLName.Space)
						continue
					}
					if depth > 0 {
						note("nested <namespace ns=%q/> read as a sibling", n.NS)
					}
					a, ok := parseAccess(n.Type)
					if !ok {
						note("unknown type %q for iq namespace %q: no access", n.Type, n.NS)
					}
					if n.NS == "" {
						note("<namespace/> without ns ignored")
					} else if old, dup := iq[n.NS]; dup {
						iq[n.NS] = old.intersect(a)
						note("iq namespace %q given twice: kept %s", n.NS, iq[n.NS])
					} else {
						iq[n.NS] = a
					}
					walk(n.Nested, depth+1)
				}
			}
			walk(p.NS, 0)
		default:
			note("unknown permission %q ignored", p.Access)
		}
	}
	for ns, a := range iq {
		if a != None {
			if g.IQ == nil {
				g.IQ = make(map[string]Access, len(iq))
			}
			g.IQ[ns] = a
		}
	}
	if v2 && g.Roster.CanGet() {
		g.RosterPush = !pushSet || push
	}
	return g, notes, nil
}

// stricter returns v for the first occurrence of a permission, and what
// both old and v allow for a repeated one (noted).
func stricter[T any](first bool, old, v T, meet func(a, b T) T, name string, note func(string, ...any)) T {
	if first {
		return v
	}
	r := meet(old, v)
	note("%s permission given twice: kept %v", name, r)
	return r
}

func parseBool(s string) (v, ok bool) {
	switch s {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}
