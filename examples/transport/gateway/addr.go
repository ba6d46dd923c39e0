package gateway

import (
	"errors"
	"strings"

	"xmppkit.dev/jid"
)

// AddrKind says what an address at the gateway names.
type AddrKind int

// Kinds of gateway addresses (Biboumi's conventions, see the package doc).
const (
	KindGateway  AddrKind = iota // the gateway itself: gw
	KindServer                   // an IRC server: server@gw
	KindChannel                  // a channel (a MUC room): #chan%server@gw
	KindOccupant                 // a channel member: #chan%server@gw/nick
	KindUser                     // an IRC user: nick%server@gw
)

// Addr is the IRC entity named by a JID at the gateway.
type Addr struct {
	Kind    AddrKind
	Server  string // IRC server name; the default server when the JID omits it
	Channel string // with its type character, e.g. "#test"
	Nick    string // the user (KindUser) or the occupant's nick
}

// ErrBadAddr is returned for a JID at the gateway that names no IRC entity,
// to be answered with jid-malformed or item-not-found.
var ErrBadAddr = errors.New("gateway: not an IRC address")

// chanTypes are the channel name prefixes recognised in addresses
// (RFC 2812 §1.3); a nick cannot start with any of them.
const chanTypes = "#&+!"

// Mapper converts between JIDs at the gateway domain and IRC names.
// Names that a JID localpart cannot hold are escaped with XEP-0106.
type Mapper struct {
	Domain string // the gateway's domain, e.g. "irc.localhost"
	// Default is the IRC server used when a JID has no "%server" part;
	// "" requires one in every address except server@gw.
	Default string
	// Servers are the names of the IRC servers: with a Default, a
	// localpart that is one of them (server@gw) names that server rather
	// than a user of the default one (IRC nicks cannot hold a '.' anyway).
	Servers []string
}

func (m Mapper) isServer(name string) bool {
	for _, s := range m.Servers {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// Parse maps a JID at the gateway to the IRC entity it names:
// gw, server@gw, #chan%server@gw[/nick], nick%server@gw, or with a default
// server #chan@gw[/nick] and nick@gw.
func (m Mapper) Parse(j jid.JID) (Addr, error) {
	if j.Domain() != m.Domain {
		return Addr{}, ErrBadAddr
	}
	local := j.Local()
	if local == "" {
		if j.Resource() != "" {
			return Addr{}, ErrBadAddr
		}
		return Addr{Kind: KindGateway, Server: m.Default}, nil
	}
	name := jid.Unescape(local)
	server := ""
	if i := strings.LastIndexByte(name, '%'); i >= 0 {
		name, server = name[:i], name[i+1:]
		if server == "" || name == "" {
			return Addr{}, ErrBadAddr
		}
	}
	if strings.ContainsAny(name, " ,\x07\x00\r\n") || strings.ContainsAny(server, " %\x00\r\n") {
		return Addr{}, ErrBadAddr
	}
	isChan := strings.IndexByte(chanTypes, name[0]) >= 0
	if server == "" {
		if !isChan && (m.Default == "" || m.isServer(name)) {
			// server@gw
			if j.Resource() != "" {
				return Addr{}, ErrBadAddr
			}
			return Addr{Kind: KindServer, Server: name}, nil
		}
		if m.Default == "" {
			return Addr{}, ErrBadAddr
		}
		server = m.Default
	}
	if !isChan {
		if j.Resource() != "" {
			return Addr{}, ErrBadAddr
		}
		return Addr{Kind: KindUser, Server: server, Nick: name}, nil
	}
	a := Addr{Kind: KindChannel, Server: server, Channel: name}
	if r := j.Resource(); r != "" {
		a.Kind, a.Nick = KindOccupant, r
	}
	return a, nil
}

// local builds the escaped localpart for name at server, leaving the server
// out when it is the default and the name cannot be misread without it.
func (m Mapper) local(name, server string) string {
	if !strings.EqualFold(server, m.Default) || m.Default == "" || strings.IndexByte(name, '%') >= 0 {
		name += "%" + server
	}
	return jid.Escape(name)
}

// JID returns the address of a (as Parse reads it). Names that IRC does not
// allow (an empty name, a space, a comma, a '%' in a server name, a nick that
// starts like a channel) give ErrBadAddr.
func (m Mapper) JID(a Addr) (jid.JID, error) {
	if err := a.check(); err != nil {
		return jid.JID{}, err
	}
	switch a.Kind {
	case KindGateway:
		return jid.New("", m.Domain, "")
	case KindServer:
		if m.Default != "" && strings.EqualFold(a.Server, m.Default) {
			// The default server speaks as the gateway itself.
			return jid.New("", m.Domain, "")
		}
		return jid.New(jid.Escape(a.Server), m.Domain, "")
	case KindUser:
		return jid.New(m.local(a.Nick, a.Server), m.Domain, "")
	case KindChannel:
		return jid.New(m.local(a.Channel, a.Server), m.Domain, "")
	case KindOccupant:
		return jid.New(m.local(a.Channel, a.Server), m.Domain, a.Nick)
	}
	return jid.JID{}, ErrBadAddr
}

// Channel returns the room JID of channel at server.
func (m Mapper) Channel(server, channel string) (jid.JID, error) {
	return m.JID(Addr{Kind: KindChannel, Server: server, Channel: channel})
}

// Occupant returns the occupant JID of nick in channel at server.
func (m Mapper) Occupant(server, channel, nick string) (jid.JID, error) {
	return m.JID(Addr{Kind: KindOccupant, Server: server, Channel: channel, Nick: nick})
}

// User returns the JID of the IRC user nick at server.
func (m Mapper) User(server, nick string) (jid.JID, error) {
	return m.JID(Addr{Kind: KindUser, Server: server, Nick: nick})
}

func (a Addr) check() error {
	badName := func(s string) bool { return s == "" || strings.ContainsAny(s, " ,\x07\x00\r\n") }
	if a.Kind != KindGateway && (badName(a.Server) || strings.IndexByte(a.Server, '%') >= 0) {
		return ErrBadAddr
	}
	if a.Kind == KindChannel || a.Kind == KindOccupant {
		if badName(a.Channel) || strings.IndexByte(chanTypes, a.Channel[0]) < 0 {
			return ErrBadAddr
		}
	}
	if a.Kind == KindUser && (badName(a.Nick) || strings.IndexByte(chanTypes, a.Nick[0]) >= 0) {
		return ErrBadAddr
	}
	if a.Kind == KindOccupant && badName(a.Nick) {
		return ErrBadAddr
	}
	return nil
}
