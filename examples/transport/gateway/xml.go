package gateway

import (
	"strings"

	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Namespaces used by the gateway.
const (
	NSMUC      = "http://jabber.org/protocol/muc"      // XEP-0045 §17.1
	NSMUCUser  = "http://jabber.org/protocol/muc#user" // XEP-0045 §17.2
	NSRegister = "jabber:iq:register"                  // XEP-0077 §11.1
	NSGateway  = "jabber:iq:gateway"                   // XEP-0100 §7
)

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")

func esc(s string) string { return xmlEscaper.Replace(s) }

// newStanza builds a stanza of the kind from the gateway with raw payload.
func newStanza(kind stanza.Kind, typ string, from, to jid.JID, payload string) *stanza.Stanza {
	var st *stanza.Stanza
	switch kind {
	case stanza.Message:
		st = stanza.NewMessage(typ, to, "")
	default:
		st = stanza.NewPresence(typ, to)
	}
	st.From = from
	if payload != "" {
		if err := st.SetPayload(payload); err != nil {
			// Everything put in payloads is escaped and sanitized; a failure
			// here is a bug, and an empty stanza is better than none.
			st.SetPayload("")
		}
	}
	return st
}

// affiliationRole maps IRC channel membership prefixes to XEP-0045
// affiliation and role (Biboumi's mapping: @ admin/moderator, + member/participant).
func affiliationRole(prefixes string) (aff, role string) {
	switch {
	case strings.ContainsAny(prefixes, "~"):
		return "owner", "moderator"
	case strings.ContainsAny(prefixes, "&@"):
		return "admin", "moderator"
	case strings.ContainsAny(prefixes, "%"):
		return "member", "moderator"
	case strings.ContainsAny(prefixes, "+"):
		return "member", "participant"
	}
	return "none", "participant"
}

// mucUser returns a muc#user <x/> (XEP-0045 §17.2) with one item carrying
// the affiliation and role for the IRC prefixes, and the status codes.
func mucUser(prefixes, nick string, codes ...int) string {
	aff, role := affiliationRole(prefixes)
	var b strings.Builder
	b.WriteString("<x xmlns='" + NSMUCUser + "'><item affiliation='" + aff + "' role='" + role + "'")
	if nick != "" {
		b.WriteString(" nick='" + esc(irc.Text(nick)) + "'")
	}
	b.WriteString("/>")
	for _, c := range codes {
		b.WriteString("<status code='")
		b.WriteString(itoa(c))
		b.WriteString("'/>")
	}
	b.WriteString("</x>")
	return b.String()
}

// unavailableItem is the muc#user <x/> of an occupant who left (role none).
func unavailableItem(nick string, codes ...int) string {
	var b strings.Builder
	b.WriteString("<x xmlns='" + NSMUCUser + "'><item affiliation='none' role='none'")
	if nick != "" {
		b.WriteString(" nick='" + esc(nick) + "'")
	}
	b.WriteString("/>")
	for _, c := range codes {
		b.WriteString("<status code='" + itoa(c) + "'/>")
	}
	b.WriteString("</x>")
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d [8]byte
	i := len(d)
	for n > 0 && i > 0 {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return string(d[i:])
}

// status returns a <status/> element with text from IRC made safe for XML.
func status(text string) string {
	if text == "" {
		return ""
	}
	return "<status>" + esc(irc.Text(text)) + "</status>"
}

// errorXML returns an <error/> element for the condition, with the legacy
// code (XEP-0086) when one is given and the text (from IRC) made safe.
func errorXML(typ stanza.ErrorType, cond stanza.Condition, code int, text string) string {
	var b strings.Builder
	b.WriteString("<error type='" + string(typ) + "'")
	if code != 0 {
		b.WriteString(" code='" + itoa(code) + "'")
	}
	b.WriteString("><" + string(cond) + " xmlns='" + stanza.NSStanzas + "'/>")
	if text != "" {
		b.WriteString("<text xmlns='" + stanza.NSStanzas + "'>" + esc(irc.Text(text)) + "</text>")
	}
	b.WriteString("</error>")
	return b.String()
}
