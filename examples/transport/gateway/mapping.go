package gateway

import (
	"strings"

	"xmppkit.dev/bridge/room"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/stanza"
)

// Namespaces used by the gateway.
const (
	NSMUC      = room.NS              // XEP-0045 §19.1
	NSMUCUser  = room.NSUser          // XEP-0045 §19.1
	NSRegister = "jabber:iq:register" // XEP-0077 §11.1
	NSGateway  = "jabber:iq:gateway"  // XEP-0100 §7
)

// occupantFor maps IRC channel membership prefixes to the XEP-0045
// affiliation and role (Biboumi's mapping: ~ owner, & and @ admin and
// moderator, % member and moderator, + member and participant; none
// none/participant), and, in a moderated channel (+m), an unvoiced member to
// a visitor.
func occupantFor(nick, prefixes string, moderated bool) room.Occupant {
	o := room.Occupant{Nick: nick, Data: prefixes}
	switch {
	case strings.ContainsAny(prefixes, "~"):
		o.Affiliation, o.Role = room.Owner, room.Moderator
	case strings.ContainsAny(prefixes, "&@"):
		o.Affiliation, o.Role = room.Admin, room.Moderator
	case strings.ContainsAny(prefixes, "%"):
		o.Affiliation, o.Role = room.Member, room.Moderator
	case strings.ContainsAny(prefixes, "+"):
		o.Affiliation, o.Role = room.Member, room.Participant
	case moderated:
		o.Affiliation, o.Role = room.None, room.Visitor
	default:
		o.Affiliation, o.Role = room.None, room.Participant
	}
	return o
}

// ircError maps an IRC error numeric to the stanza error (RFC 6120 §8.3.3)
// answered for the stanza that caused it, with the server's text.
func ircError(code, text string) *stanza.Error {
	typ, cond := ircErrorCondition(code)
	return &stanza.Error{Type: typ, Condition: cond, Text: irc.Text(text)}
}

// ircErrorCondition maps an IRC error numeric to the stanza error condition
// (RFC 6120 §8.3.3) answered for the stanza that caused it.
func ircErrorCondition(code string) (stanza.ErrorType, stanza.Condition) {
	switch code {
	case irc.ErrNoSuchNick:
		// §8.3.3.13: a nick not online now may come back later.
		return stanza.Wait, stanza.RecipientUnavailable
	case irc.ErrNoSuchChan:
		// §8.3.3.7: the addressed entity does not exist.
		return stanza.Cancel, stanza.ItemNotFound
	case irc.ErrCannotSend:
		return stanza.Auth, stanza.Forbidden
	case irc.ErrNicknameUsed, irc.ErrNickCollision, irc.ErrUnavailResource:
		return stanza.Cancel, stanza.Conflict
	case irc.ErrErroneusNick:
		return stanza.Modify, stanza.JIDMalformed
	case irc.ErrBannedChan:
		return stanza.Auth, stanza.Forbidden
	case irc.ErrInviteOnly:
		return stanza.Auth, stanza.RegistrationRequired
	case irc.ErrBadChanKey:
		return stanza.Auth, stanza.NotAuthorized
	case irc.ErrChanFull:
		return stanza.Wait, stanza.ServiceUnavailable
	case irc.ErrChanOPrivsNeed:
		return stanza.Auth, stanza.Forbidden
	case irc.ErrUserNotInChan, irc.ErrNotOnChannel:
		return stanza.Cancel, stanza.ItemNotFound
	case irc.ErrUserOnChannel:
		return stanza.Cancel, stanza.Conflict
	case irc.ErrUnknownMode, irc.ErrNeedMoreParams:
		return stanza.Modify, stanza.BadRequest
	}
	return stanza.Cancel, stanza.UndefinedCondition
}
