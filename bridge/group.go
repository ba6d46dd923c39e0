package bridge

import (
	"context"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// group is a group chat of one user (a MUC room at the gateway).
type group struct {
	jid jid.JID
}

// occupantJID is the address of a participant (by legacy id) in the room.
func (gr *group) occupantJID(id string) jid.JID { return gr.jid }

// participantID is the legacy id of the participant with the nick.
func (gr *group) participantID(nick string) string { return "" }

// isGroup reports whether an event's chat is a group. Under u.mu.
func (u *user) isGroup(chat string, ev Event) bool {
	if m, ok := ev.(*Message); ok && m.Group {
		return true
	}
	return u.groups[chat] != nil
}

// isRoom reports whether the legacy id is one of the user's groups.
func (u *user) isRoom(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.groups[id] != nil
}

func (u *user) groupEvent(ev Event) ([]op, error)                     { return nil, nil }
func (u *user) applyGroup(ev *Group) []op                             { return nil }
func (u *user) applyParticipant(ev *Participant) []op                 { return nil }
func (u *user) applySubject(ev *Subject) []op                         { return nil }
func (u *user) leaveRooms(full jid.JID)                               {}
func (u *user) endRooms(why string) []op                              { return nil }
func (g *Gateway) isRoomJID(from jid.JID, id string, to jid.JID) bool { return false }
func (g *Gateway) roomFor(from, to jid.JID) bool                      { return false }
func (g *Gateway) roomName(from, to jid.JID) string                   { return "" }

func (g *Gateway) handleRoomPresence(ctx context.Context, p *stanza.Stanza, id string) error {
	return stanza.NewError(stanza.FeatureNotImplemented, "group chats are not bridged yet")
}

func (g *Gateway) handleRoomMessage(ctx context.Context, u *user, st *stanza.Stanza, id string) error {
	return stanza.NewError(stanza.FeatureNotImplemented, "group chats are not bridged yet")
}
