package gateway

import (
	"context"
	"crypto/tls"
	"sort"
	"strings"

	"xmppkit.dev/bridge/settings"
	"xmppkit.dev/command"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Settings fields (XEP-0004 field vars) of the three scopes.
const (
	setNick         = "nick"
	setUsername     = "username"
	setRealname     = "realname"
	setPassword     = "password" // PASS
	setTLSPin       = "tls-pin"
	setSASL         = "sasl"
	setSASLUser     = "sasl-username"
	setSASLPassword = "sasl-password"
	setClientCert   = "client-certificate" // PEM certificate and key, for SASL EXTERNAL
	setAfterConnect = "after-connect"
	setEncodingIn   = "encoding-in"
	setEncodingOut  = "encoding-out"
	setRecord       = "record"
	setPersistent   = "persistent"
	setKey          = "key"
)

// Scope names of the settings store.
func serverScope(server string) string { return "server/" + server }
func channelScope(server, channelFold string) string {
	return "channel/" + server + "/" + channelFold
}

func checkEncoding(v string) error {
	if !irc.KnownEncoding(v) {
		return command.BadPayload("unknown encoding " + v + " (use a WHATWG name such as windows-1252, iso-8859-15, koi8-r)")
	}
	return nil
}

func checkNick(v string) error {
	if v != "" && !ValidNick(v) {
		return command.BadPayload(v + " is not a valid IRC nick")
	}
	return nil
}

func checkPins(v string) error {
	for _, p := range strings.Fields(v) {
		if _, err := irc.ParseFingerprint(p); err != nil {
			return command.BadPayload(err.Error())
		}
	}
	return nil
}

func checkCert(v string) error {
	if v == "" {
		return nil
	}
	if _, err := tls.X509KeyPair([]byte(v), []byte(v)); err != nil {
		return command.BadPayload("the client certificate needs the PEM certificate and its PEM private key: " + err.Error())
	}
	return nil
}

func checkLine(v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return command.BadPayload("no line breaks here")
	}
	return nil
}

var encodingDesc = "WHATWG name of a legacy encoding (windows-1252, iso-8859-15, koi8-r, shift_jis); empty is UTF-8, with text that is not UTF-8 read as Latin-1"

// userSchema is what the user configures for the whole gateway.
var userSchema = settings.Schema{
	Title:        "IRC gateway settings",
	Instructions: "Defaults for every IRC server; each server and channel can override them (run Configure at their addresses).",
	Fields: []settings.Field{
		{Var: setNick, Label: "Nick", Type: form.TextSingle, Check: checkNick},
		{Var: setUsername, Label: "User name (USER)", Type: form.TextSingle, Check: checkLine},
		{Var: setRealname, Label: "Real name", Type: form.TextSingle, Check: checkLine},
		{Var: setRecord, Label: "Record the history of rooms (served on join and through MAM)", Type: form.Boolean},
	},
}

// serverSchema is what the user configures for one IRC server.
var serverSchema = settings.Schema{
	Title:        "IRC server settings",
	Instructions: "How to connect to this server; applies from the next connection.",
	Fields: []settings.Field{
		{Var: setNick, Label: "Nick", Type: form.TextSingle, Check: checkNick},
		{Var: setUsername, Label: "User name (USER)", Type: form.TextSingle, Check: checkLine},
		{Var: setRealname, Label: "Real name", Type: form.TextSingle, Check: checkLine},
		{Var: setPassword, Label: "Server password (PASS)", Type: form.TextPrivate, Secret: true, Check: checkLine},
		{Var: setTLSPin, Label: "Trusted certificate fingerprints (SHA-256), for a server no CA vouches for", Type: form.TextMulti, Check: checkPins},
		{Var: setSASL, Label: "SASL", Type: form.ListSingle, Options: []form.Option{
			{Label: "none", Value: ""}, {Label: "PLAIN (account and password)", Value: "PLAIN"}, {Label: "EXTERNAL (client certificate)", Value: "EXTERNAL"}}},
		{Var: setSASLUser, Label: "SASL account (default: the nick)", Type: form.TextSingle, Check: checkLine},
		{Var: setSASLPassword, Label: "SASL password", Type: form.TextPrivate, Secret: true, Check: checkLine},
		{Var: setClientCert, Label: "Client certificate and key (PEM), for TLS and SASL EXTERNAL", Type: form.TextMulti, Secret: true, Check: checkCert},
		{Var: setAfterConnect, Label: "Commands sent after connecting (one a line, e.g. PRIVMSG NickServ :IDENTIFY password)", Type: form.TextMulti, Secret: true},
		{Var: setEncodingIn, Label: "Encoding of text received that is not UTF-8", Desc: encodingDesc, Type: form.TextSingle, Check: checkEncoding},
		{Var: setEncodingOut, Label: "Encoding of text sent", Desc: encodingDesc, Type: form.TextSingle, Check: checkEncoding},
	},
}

// channelSchema is what the user configures for one channel.
var channelSchema = settings.Schema{
	Title: "IRC channel settings",
	Fields: []settings.Field{
		{Var: setRecord, Label: "Record the history of this room", Type: form.ListSingle, Options: []form.Option{
			{Label: "as in the gateway settings", Value: ""}, {Label: "yes", Value: "yes"}, {Label: "no", Value: "no"}}},
		{Var: setPersistent, Label: "Stay in the channel while offline (history is recorded and served on return)", Type: form.Boolean},
		{Var: setKey, Label: "Channel key, for joining again", Type: form.TextPrivate, Secret: true, Check: checkLine},
		{Var: setEncodingIn, Label: "Encoding of text received that is not UTF-8", Desc: encodingDesc, Type: form.TextSingle, Check: checkEncoding},
		{Var: setEncodingOut, Label: "Encoding of text sent", Desc: encodingDesc, Type: form.TextSingle, Check: checkEncoding},
	},
}

// SecretSettings reports which settings are sealed on disk (for
// settings.Options.Secret).
var SecretSettings = settings.Secrets(userSchema, serverSchema, channelSchema)

// Commands of the gateway (XEP-0050 nodes).
const (
	nodeConfigure = "configure"
	nodeUsers     = "users"
)

// commands builds the ad-hoc command registry: Configure at the gateway
// (the user's defaults), at a server's address and at a room's address;
// and for admins, the list of connected users with a disconnect.
func (g *Gateway) commands() *command.Registry {
	reg := &command.Registry{}
	user := g.cfg.Settings.Command(userSchema, g.settingsTarget(KindGateway), g.settingsChanged)
	server := g.cfg.Settings.Command(serverSchema, g.settingsTarget(KindServer), g.settingsChanged)
	chann := g.cfg.Settings.Command(channelSchema, g.settingsTarget(KindChannel), g.settingsChanged)
	reg.Add(command.Command{Node: nodeConfigure, Name: "Configure", Allow: func(from, to jid.JID) bool {
		a, err := g.mapper.Parse(to)
		return err == nil && (a.Kind == KindGateway || a.Kind == KindServer || a.Kind == KindChannel)
	}, Handler: command.HandlerFunc(func(ctx context.Context, r *command.Request) (*command.Response, error) {
		a, _ := g.mapper.Parse(r.To)
		switch a.Kind {
		case KindServer:
			return server.Execute(ctx, r)
		case KindChannel:
			return chann.Execute(ctx, r)
		}
		return user.Execute(ctx, r)
	})})
	reg.Add(command.Command{Node: nodeUsers, Name: "Connected users", Allow: func(from, to jid.JID) bool {
		return to.Local() == "" && g.isAdmin(from)
	}, Handler: command.HandlerFunc(g.usersCommand)})
	return reg
}

func (g *Gateway) isAdmin(from jid.JID) bool {
	for _, a := range g.cfg.Admins {
		if a == from.Bare() {
			return true
		}
	}
	return false
}

// settingsTarget maps a command's address to the scope it configures.
func (g *Gateway) settingsTarget(kind AddrKind) settings.Target {
	return func(r *command.Request) (string, string, error) {
		a, err := g.mapper.Parse(r.To)
		if err != nil || a.Kind != kind {
			return "", "", stanza.NewError(stanza.ItemNotFound, "nothing to configure here")
		}
		user := r.From.Bare().String()
		name, _, ok := g.network(a.Server)
		switch kind {
		case KindServer:
			if !ok {
				return "", "", stanza.NewError(stanza.ItemNotFound, "unknown IRC server "+a.Server)
			}
			return user, serverScope(name), nil
		case KindChannel:
			if !ok {
				return "", "", stanza.NewError(stanza.ItemNotFound, "unknown IRC server "+a.Server)
			}
			return user, channelScope(name, irc.Fold(irc.CaseRFC1459, a.Channel)), nil
		}
		return user, "", nil
	}
}

// settingsChanged applies what changes at once: persistence and recording
// of a channel the user is in.
func (g *Gateway) settingsChanged(user, scope string, _ settings.Values) {
	u, err := jid.Parse(user)
	if err != nil {
		return
	}
	for _, s := range g.sessionsOf(u) {
		s.do(func() {
			// The user's defaults or this server's settings may cure a
			// refused login: try again.
			if scope == "" || scope == serverScope(s.server) {
				s.unhold()
			}
			s.applySettings()
		})
	}
}

// usersCommand lists the connected users and disconnects the ones chosen
// (an admin command, in the spirit of XEP-0133).
func (g *Gateway) usersCommand(ctx context.Context, r *command.Request) (*command.Response, error) {
	var keys []string
	byKey := map[string]*session{}
	for _, s := range g.sessions.All() {
		label := s.user.String() + " on " + s.server
		keys = append(keys, label)
		byKey[label] = s
	}
	sort.Strings(keys)
	if r.Form == nil {
		f := &form.Form{Type: form.TypeForm, Title: "Connected users"}
		var opts []form.Option
		for _, k := range keys {
			opts = append(opts, form.Option{Label: k, Value: k})
		}
		f.Fields = append(f.Fields,
			form.Field{Type: form.Fixed, Values: []string{itoaPlain(len(keys)) + " IRC connections"}},
			form.Field{Type: form.ListMulti, Var: "disconnect", Label: "Disconnect", Options: opts},
			form.Field{Type: form.TextSingle, Var: "reason", Label: "Reason"})
		return command.Ask(f), nil
	}
	reason := "Disconnected by the gateway's administrator"
	if v, _ := r.Form.Get("reason"); v != "" {
		reason = v
	}
	n := 0
	for _, k := range r.Form.Values("disconnect") {
		if s := byKey[k]; s != nil {
			go s.stop(reason)
			n++
		}
	}
	return command.Done(command.InfoNote(itoaPlain(n) + " disconnected")), nil
}

func itoaPlain(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// prefs are the effective settings of a session: the server's over the
// user's over the registration's.
type prefs struct {
	user, server settings.Values
	reg          Registration
	hasReg       bool
}

func (s *session) prefs() prefs {
	st := s.g.cfg.Settings
	u := s.user.String()
	p := prefs{user: st.Get(u, ""), server: st.Get(u, serverScope(s.server))}
	p.reg, p.hasReg = s.reg, s.hasReg
	return p
}

func (p prefs) get(key string) string {
	if v := p.server.Get(key, ""); v != "" {
		return v
	}
	return p.user.Get(key, "")
}

// nick is the nick to connect with when no room asks for one.
func (p prefs) nick() string {
	if v := p.server.Get(setNick, ""); v != "" {
		return v
	}
	if p.hasReg && p.reg.Nick != "" {
		return p.reg.Nick
	}
	return p.user.Get(setNick, "")
}

// channelPrefs are the settings of one channel.
func (s *session) channelPrefs(name string) settings.Values {
	return s.g.cfg.Settings.Get(s.user.String(), channelScope(s.server, irc.Fold(irc.CaseRFC1459, name)))
}

// encodingIn / encodingOut of a channel (or "" for private messages).
func (s *session) encodingIn(channel string) string {
	if channel != "" {
		if v := s.channelPrefs(channel).Get(setEncodingIn, ""); v != "" {
			return v
		}
	}
	return s.prefs().get(setEncodingIn)
}

func (s *session) encodingOut(channel string) string {
	if channel != "" {
		if v := s.channelPrefs(channel).Get(setEncodingOut, ""); v != "" {
			return v
		}
	}
	return s.prefs().get(setEncodingOut)
}

// recorded reports whether the user wants the channel's history kept.
func (s *session) recorded(channel string) bool { return s.g.recorded(s.user, s.server, channel) }

// recorded reports whether user agreed to keep the history of the channel
// at server: the channel's setting, else yes for a persistent channel
// (staying while offline is for catching up), else the user's default (no).
func (g *Gateway) recorded(user jid.JID, server, channel string) bool {
	cp := g.cfg.Settings.Get(user.Bare().String(), channelScope(server, irc.Fold(irc.CaseRFC1459, channel)))
	switch cp.Get(setRecord, "") {
	case "yes":
		return true
	case "no":
		return false
	}
	if cp.Bool(setPersistent, false) {
		return true
	}
	return g.cfg.Settings.Get(user.Bare().String(), "").Bool(setRecord, false)
}

// canonicalRoom is the one address a channel's history is kept under,
// whatever spelling a client uses: the short form, the name folded.
func (g *Gateway) canonicalRoom(server, channel string) jid.JID {
	j, err := jid.New(jid.Escape(irc.Fold(irc.CaseRFC1459, channel)+"%"+server), g.cfg.Domain, "")
	if err != nil {
		return g.domainJID()
	}
	return j
}

// setLog gives the channel's room the history log when the user agreed to
// recording, and takes it away otherwise.
func (g *Gateway) setLog(s *session, ch *channel) {
	if !s.recorded(ch.name) {
		ch.room.SetLog(nil)
		return
	}
	by, _ := jid.New(jid.Escape(s.server), g.cfg.Domain, "")
	ch.room.SetLog(g.cfg.Archive.Log(s.user, g.canonicalRoom(s.server, ch.name), by))
}

// applySettings applies the settings that take effect at once to the
// channels of the session (on its loop).
func (s *session) applySettings() {
	for _, ch := range s.chans {
		cp := s.channelPrefs(ch.name)
		ch.persistent = cp.Bool(setPersistent, false)
		if ch.persistent && ch.key != "" && cp.Get(setKey, "") == "" {
			cp[setKey] = ch.key // to join again after a restart
			s.g.cfg.Settings.Put(s.user.String(), channelScope(s.server, irc.Fold(irc.CaseRFC1459, ch.name)), cp)
		}
		s.g.setLog(s, ch)
		if !ch.persistent && ch.state == chanJoined && len(ch.room.Devices()) == 0 && s.conn != nil {
			ch.state = chanParting
			s.conn.Send("PART", ch.name, "")
		}
	}
}

// resumePersistent joins, for every user, the channels they keep while
// offline (on start, before anyone is online).
func (g *Gateway) resumePersistent() {
	for _, user := range g.cfg.Settings.Users() {
		u, err := jid.Parse(user)
		if err != nil {
			continue
		}
		for _, scope := range g.cfg.Settings.Scopes(user) {
			rest, ok := strings.CutPrefix(scope, "channel/")
			if !ok {
				continue
			}
			server, channel, ok := strings.Cut(rest, "/")
			if !ok || !g.cfg.Settings.Get(user, scope).Bool(setPersistent, false) {
				continue
			}
			key := g.cfg.Settings.Get(user, scope).Get(setKey, "")
			for i := 0; i < 3; i++ {
				s, err := g.session(u, server, true)
				if err != nil {
					break
				}
				if s.do(func() { s.joinPersistent(channel, key) }) {
					break
				}
			}
		}
	}
}

// joinPersistent joins a channel with no device in it (on the loop).
func (s *session) joinPersistent(name, key string) {
	if s.channel(name) != nil {
		return
	}
	ch := s.newChannel(name)
	ch.key = key
	ch.persistent = true
	s.chans[s.fold(name)] = ch
	if s.conn != nil {
		s.sendJoin(ch)
	} else if !s.dialing {
		s.connect()
	}
}
