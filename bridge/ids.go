package bridge

// idMap remembers, per chat, which XMPP id a user's client gave a message
// and which legacy id the network gave it, both ways, for the last max
// messages (oldest forgotten first). Messages from the network need no
// entry: their XMPP id is their legacy id.
type idMap struct {
	max      int
	toLegacy map[idKey]string
	toXMPP   map[idKey]string
	ring     []idPair
	next     int
}

type idKey struct{ chat, id string }

type idPair struct {
	chat, xmpp, legacy string
}

func newIDMap(max int) *idMap {
	return &idMap{max: max, toLegacy: map[idKey]string{}, toXMPP: map[idKey]string{}}
}

// add records that the XMPP id x of a message in chat is the legacy id l.
func (m *idMap) add(chat, x, l string) {
	if x == "" || l == "" || x == l {
		return
	}
	p := idPair{chat, x, l}
	if len(m.ring) < m.max {
		m.ring = append(m.ring, p)
	} else {
		old := m.ring[m.next]
		if m.toLegacy[idKey{old.chat, old.xmpp}] == old.legacy {
			delete(m.toLegacy, idKey{old.chat, old.xmpp})
		}
		if m.toXMPP[idKey{old.chat, old.legacy}] == old.xmpp {
			delete(m.toXMPP, idKey{old.chat, old.legacy})
		}
		m.ring[m.next] = p
		m.next = (m.next + 1) % m.max
	}
	m.toLegacy[idKey{chat, x}] = l
	m.toXMPP[idKey{chat, l}] = x
}

// legacy returns the legacy id of the message an XMPP client names by x.
func (m *idMap) legacy(chat, x string) string {
	if l, ok := m.toLegacy[idKey{chat, x}]; ok {
		return l
	}
	return x
}

// xmpp returns the XMPP id under which the user's clients know the message
// with legacy id l.
func (m *idMap) xmpp(chat, l string) string {
	if x, ok := m.toXMPP[idKey{chat, l}]; ok {
		return x
	}
	return l
}
