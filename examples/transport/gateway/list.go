package gateway

import (
	"context"
	"sort"
	"strconv"
	"time"

	"xmppkit.dev/disco"
	"xmppkit.dev/examples/transport/irc"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// listEntry is one channel of an IRC LIST reply (RFC 2812 §3.2.6, 322).
type listEntry struct {
	name  string
	users int
	topic string
}

// channelList is the LIST a session collects, and who waits for it.
type channelList struct {
	entries []listEntry
	at      time.Time // when the last LIST ended (zero while one runs)
	running bool
	waits   []chan<- []listEntry
	full    bool // maxListEntries reached
}

const (
	// maxListEntries bounds the channels kept from one LIST (large networks
	// list tens of thousands); the rest is dropped and the page says so.
	maxListEntries = 20000
	// listFresh is how long a LIST is reused before asking again.
	listFresh = time.Minute
	// listPage is the largest page of disco#items, with or without RSM.
	listPage = 100
)

// RegisterDisco mounts XEP-0030 on m for the gateway: disco#info from
// every handler on m (disco.Handler), and disco#items where an IRC server's
// address lists its channels (IRC LIST, paged with XEP-0059) and every
// other address is answered by the disco.Handler. Use it in place of
// disco.New(m).Register(m) on a mux the gateway is registered on.
func (g *Gateway) RegisterDisco(m *mux.ServeMux) {
	dh := disco.New(m)
	m.HandleIQ(stanza.TypeGet, disco.NSInfo, "query", dh)
	m.HandleIQ(stanza.TypeGet, disco.NSItems, "query", g.keepSender(mux.HandlerFunc(func(ctx context.Context, s mux.Sender, iq *stanza.Stanza) error {
		a, err := g.mapper.Parse(iq.To)
		el, _ := iq.PayloadElement()
		var q struct {
			Node string `xml:"node,attr"`
		}
		el.Unmarshal(&q)
		if err != nil || q.Node != "" || a.Kind != KindServer && (a.Kind != KindGateway || g.cfg.Default == "") {
			return dh.HandleStanza(ctx, s, iq)
		}
		return g.channelList(ctx, s, iq, a.Server)
	})))
}

// channelList answers disco#items at a server address with its channels.
func (g *Gateway) channelList(ctx context.Context, s mux.Sender, iq *stanza.Stanza, server string) error {
	el, _ := iq.PayloadElement()
	q, _, err := rsm.FindQuery(el)
	if err != nil {
		return err
	}
	entries, err := g.listOf(ctx, iq.From, server)
	if err != nil {
		return err
	}
	page, err := rsm.Paginate(rsm.SortedSlice(entries, func(e listEntry) string { return e.name }), q, listPage)
	if err != nil {
		return err
	}
	b := stanza.NewBuilder(disco.NSItems, "query")
	for _, e := range page.Items {
		j, err := g.channelAddr(iq.To, server, e.name)
		if err != nil {
			continue
		}
		name := e.name + " (" + strconv.Itoa(e.users) + ")"
		if e.topic != "" {
			name += ": " + e.topic
		}
		b.Child("", "item").Attr("jid", j.String()).Attr("name", name).End()
	}
	b.Append(page.Result.Element())
	return s.Send(ctx, iq.Result(b.Element()))
}

// listOf returns the channels of the server as the user's connection sees
// them: from the gateway's cache while fresh (so that paging does not ask
// the server again), else from a LIST on the user's session, which connects
// for it when needed.
func (g *Gateway) listOf(ctx context.Context, user jid.JID, server string) ([]listEntry, error) {
	name, _, ok := g.network(server)
	if !ok {
		return nil, stanza.NewError(stanza.ItemNotFound, "unknown IRC server "+server)
	}
	key := user.Bare().String() + "\x00" + name
	g.mu.Lock()
	c, ok := g.lists[key]
	g.mu.Unlock()
	if ok && time.Since(c.at) < listFresh {
		return c.entries, nil
	}
	reg, _ := g.registration(user)
	ch := make(chan []listEntry, 1)
	started := false
	for i := 0; i < 3 && !started; i++ {
		ss, err := g.session(user, name, true)
		if err != nil {
			return nil, err
		}
		started = ss.do(func() { ss.wantList(reg, ch) })
	}
	if !started {
		return nil, stanza.NewError(stanza.InternalServerError, "could not start the IRC session")
	}
	var entries []listEntry
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	select {
	case entries = <-ch:
	case <-wctx.Done():
		return nil, stanza.NewError(stanza.RemoteServerTimeout, "the IRC server did not finish its channel list")
	}
	if entries == nil {
		return nil, stanza.NewError(stanza.RemoteServerNotFound, "could not list the channels of "+server)
	}
	g.mu.Lock()
	if len(g.lists) > 1000 {
		for k, v := range g.lists {
			if time.Since(v.at) > listFresh {
				delete(g.lists, k)
			}
		}
	}
	g.lists[key] = listCache{entries: entries, at: time.Now()}
	g.mu.Unlock()
	return entries, nil
}

type listCache struct {
	entries []listEntry
	at      time.Time
}

// channelAddr is the room address of a channel in the spelling of the
// server address asked: #chan%server@gw when the server was named, the
// short form when the gateway itself (the default server) was asked.
func (g *Gateway) channelAddr(asked jid.JID, server, channel string) (jid.JID, error) {
	if asked.Local() == "" {
		return g.mapper.Channel(server, channel)
	}
	return jid.New(jid.Escape(channel+"%"+server), g.cfg.Domain, "")
}

// wantList registers a wait for the channel list (on the session's loop):
// a fresh one is given at once; otherwise LIST is sent, connecting first
// when needed.
func (s *session) wantList(reg Registration, reply chan<- []listEntry) {
	l := &s.list
	if !l.running && !l.at.IsZero() && time.Since(l.at) < listFresh {
		reply <- l.entries
		return
	}
	l.waits = append(l.waits, reply)
	if len(l.waits) > 32 {
		l.waits[0] <- nil
		l.waits = l.waits[1:]
	}
	if !s.hasReg && reg.Nick != "" {
		s.hasReg, s.reg = true, reg
	}
	if s.conn == nil {
		if !s.dialing {
			s.connect()
		}
		return // dialed sends LIST
	}
	s.startList()
}

func (s *session) startList() {
	l := &s.list
	if l.running || len(l.waits) == 0 {
		return
	}
	l.running, l.entries, l.full = true, nil, false
	if err := s.conn.Send("LIST"); err != nil {
		s.endList(false)
	}
}

// listLine handles 322 and 323.
func (s *session) listLine(m *irc.Message) {
	l := &s.list
	if !l.running {
		return
	}
	if m.Command == irc.RplListEnd {
		s.endList(true)
		return
	}
	if len(l.entries) >= maxListEntries {
		l.full = true
		return
	}
	n, _ := strconv.Atoi(m.Param(2))
	name := m.Param(1)
	if name == "" || name == "*" {
		return // a secret channel
	}
	l.entries = append(l.entries, listEntry{name: irc.Text(name), users: n, topic: irc.Text(m.Param(3))})
}

func (s *session) endList(ok bool) {
	l := &s.list
	l.running = false
	var out []listEntry
	if ok {
		sort.Slice(l.entries, func(i, j int) bool { return l.entries[i].name < l.entries[j].name })
		// Channel names are unique, but a hostile server may repeat one.
		kept := l.entries[:0]
		for i, e := range l.entries {
			if i == 0 || e.name != l.entries[i-1].name {
				kept = append(kept, e)
			}
		}
		l.entries, l.at = kept, time.Now()
		out = l.entries
	}
	for _, w := range l.waits {
		w <- out
	}
	l.waits = nil
}
