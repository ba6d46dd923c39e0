package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"xmppkit.dev/jid"
	"xmppkit.dev/privilege"
)

// Capability is one feature of the gateway as a server's grants allow it:
// what works, and how.
type Capability struct {
	// Name is the feature ("contact list", "own messages", ...).
	Name string
	// Full reports whether it works the best way; false means a degraded
	// way (or not at all).
	Full bool
	// How says how it works, and why when degraded.
	How string
}

// Report is the degradation report for one server: what it granted the
// gateway (XEP-0356) and, therefore, how each feature works for its users.
type Report struct {
	Server       jid.JID
	Grants       privilege.Grants
	Capabilities []Capability
}

// String renders the report for a log or an admin, one line per feature.
func (r Report) String() string {
	var b strings.Builder
	grants := "nothing advertised"
	if r.Grants.Version != "" {
		grants = r.Grants.String()
	}
	fmt.Fprintf(&b, "gateway privileges at %s: %s\n", r.Server, grants)
	for _, c := range r.Capabilities {
		mark := "ok      "
		if !c.Full {
			mark = "degraded"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", mark, c.Name, c.How)
	}
	return b.String()
}

// Report returns the degradation report for the users of server (a domain
// JID; the zero JID means the gateway's parent domain, its host server).
func (g *Gateway) Report(server jid.JID) Report {
	if server.IsZero() {
		server = g.hostServer()
	}
	gr := g.priv.Grants(server)
	r := Report{Server: server, Grants: gr}
	add := func(name string, full bool, how string) {
		r.Capabilities = append(r.Capabilities, Capability{Name: name, Full: full, How: how})
	}
	if g.canPushRoster(server) {
		add("contact list", true, "contacts are pushed into users' rosters (XEP-0356 roster set)")
	} else {
		add("contact list", false, "each contact asks the user for a presence subscription (XEP-0356 roster privilege "+g.rosterWhy(server)+")")
	}
	switch {
	case g.canSendAs(server) && g.ownAsCarbons(server):
		add("own messages", true, "messages the user sends from the network's other clients reach their online XMPP clients as XEP-0280 carbons sent by the gateway (XEP-0356 message privilege in "+privilege.NS1+", whose server routes privileged messages past its carbons and archive)")
	case g.canSendAs(server):
		add("own messages", true, "messages the user sends from the network's other clients reach their XMPP clients as their own (XEP-0356 message privilege; carbons and archive by the server)")
	default:
		add("own messages", false, "messages the user sends from the network's other clients are shown as notes from the contact (XEP-0356 message privilege "+g.messageWhy(server)+")")
	}
	switch {
	case gr.Presence != privilege.NoPresence:
		add("logins", true, "users are logged in when they come online (XEP-0356 presence "+gr.Presence.String()+")")
	default:
		add("logins", false, "users are logged in when their presence reaches the gateway: they must accept the gateway's subscription (XEP-0100 §4.1.1)")
	}
	if g.cfg.Features&Avatars != 0 {
		add("avatars", true, "served at each contact as XEP-0084 (PEP at the puppet, with notifications) and XEP-0153 (vCard, hash in presence)")
	}
	switch up := g.cfg.Uploader.(type) {
	case nil:
		add("attachments", false, "only the network's attachments that come with a public URL are shown (no Uploader)")
	case interface {
		Describe(privilege.Grants) (bool, string)
	}:
		full, how := up.Describe(gr)
		add("attachments", full, how)
	default:
		add("attachments", true, "links made by the configured Uploader (XEP-0066)")
	}
	return r
}

// hostServer is the gateway's parent domain: the server it is attached to.
func (g *Gateway) hostServer() jid.JID {
	d := g.domain.Domain()
	if i := strings.IndexByte(d, '.'); i >= 0 {
		if j, err := jid.New("", d[i+1:], ""); err == nil {
			return j
		}
	}
	return g.domain
}

// grantsChanged logs the degradation report when a server's grants change.
func (g *Gateway) grantsChanged(gr privilege.Grants) {
	if gr.Version == "" {
		return // a reset; the next advertisement reports
	}
	g.logReport(gr.Server)
}

func (g *Gateway) logReport(server jid.JID) {
	rep := g.Report(server)
	text := rep.String()
	g.mu.Lock()
	same := g.reported[server.String()] == text
	g.reported[server.String()] = text
	g.mu.Unlock()
	if same {
		return
	}
	g.log.Info("bridge: privileges", "server", server, "grants", rep.Grants.String())
	for _, c := range rep.Capabilities {
		level := slog.LevelInfo
		state := "ok"
		if !c.Full {
			level, state = slog.LevelWarn, "degraded"
		}
		g.log.Log(context.Background(), level, "bridge: "+c.Name+": "+state, "server", server, "how", c.How)
	}
}

// refuse records that server refused a privilege it had advertised (ejabberd
// 23.01 advertises roster set and fails it), so that the gateway degrades
// for the rest of the link.
func (g *Gateway) refuse(server jid.JID, what string, err error) {
	g.mu.Lock()
	key := server.String() + "\x00" + what
	_, had := g.refused[key]
	g.refused[key] = err.Error()
	g.mu.Unlock()
	if !had {
		g.log.Warn("bridge: the server refused a privilege it advertised; degrading", "server", server, "privilege", what, "err", err)
		g.logReport(server)
	}
}

func (g *Gateway) refusal(server jid.JID, what string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	why, ok := g.refused[server.String()+"\x00"+what]
	return why, ok
}

func (g *Gateway) canPushRoster(server jid.JID) bool {
	if _, refused := g.refusal(server, "roster set"); refused {
		return false
	}
	return g.priv.Grants(server).Roster.CanSet()
}

func (g *Gateway) rosterWhy(server jid.JID) string {
	if why, ok := g.refusal(server, "roster set"); ok {
		return "granted, but the server failed it: " + why
	}
	return "not granted"
}

func (g *Gateway) canSendAs(server jid.JID) bool {
	if _, refused := g.refusal(server, "message"); refused {
		return false
	}
	return g.priv.Grants(server).Message
}

func (g *Gateway) messageWhy(server jid.JID) string {
	if why, ok := g.refusal(server, "message"); ok {
		return "granted, but the server refused it: " + why
	}
	return "not granted"
}

// ownAsCarbons reports whether the user's own messages are sent as
// XEP-0280 carbons by the gateway rather than as messages from the user
// that the server carbons itself: for a server speaking XEP-0356 v0.2
// (ejabberd 23.01, whose mod_privilege routes the message without its c2s
// hooks, so no carbons and no archive).
func (g *Gateway) ownAsCarbons(server jid.JID) bool {
	return g.priv.Grants(server).Version == privilege.NS1
}
