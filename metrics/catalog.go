package metrics

// The catalogue: every metric the SDK reports. Label values that are not
// the caller's (a domain) are listed with each label.

// Label values shared by several metrics.
const (
	In  = "in"  // direction: received
	Out = "out" // direction: sent

	Message  = "message"  // kind: a <message/> stanza (RFC 6120 §8.2.1)
	Presence = "presence" // kind: a <presence/> stanza (RFC 6120 §8.2.2)
	IQ       = "iq"       // kind: an <iq/> stanza (RFC 6120 §8.2.3)
)

// Kinds lists the stanza kinds, the values of the "kind" label of stanza
// counters, in the order of stanza.Kind (message, presence, iq).
var Kinds = [...]string{Message, Presence, IQ}

// Session metrics: reported by every session of package session, which
// runs under a component (XEP-0114), a service attached to the router in
// process and the c2s client. Their "domain" label is the session's own
// domain (the component's, the service's, the client account's).
var (
	Stanzas = &Desc{
		Name:   "xmppkit_stanzas_total",
		Help:   "Stanzas received (direction in) and sent (direction out) by a session, by kind (message, presence, iq).",
		Kind:   KindCounter,
		Labels: []string{"domain", "direction", "kind"},
	}
	HandlerDuration = &Desc{
		Name:   "xmppkit_handler_duration_seconds",
		Help:   "Time a handler took to handle one received stanza.",
		Kind:   KindHistogram,
		Labels: []string{"domain"},
	}
	HandlerErrors = &Desc{
		Name:   "xmppkit_handler_errors_total",
		Help:   "Handler calls that returned an error (a stanza error sent as the reply included).",
		Kind:   KindCounter,
		Labels: []string{"domain"},
	}
	HandlerPanics = &Desc{
		Name:   "xmppkit_handler_panics_total",
		Help:   "Handler calls that panicked (recovered, logged with the stack, answered with internal-server-error for an iq get or set).",
		Kind:   KindCounter,
		Labels: []string{"domain"},
	}
	IQRoundTrip = &Desc{
		Name:   "xmppkit_iq_roundtrip_seconds",
		Help:   "Time from sending an iq get or set (SendIQ) to its answer, a result or an error (RFC 6120 §8.2.3).",
		Kind:   KindHistogram,
		Labels: []string{"domain"},
	}
	IQUnanswered = &Desc{
		Name:   "xmppkit_iq_unanswered_total",
		Help:   "SendIQ calls that ended without an answer (their context ended, the link was lost, the session closed).",
		Kind:   KindCounter,
		Labels: []string{"domain"},
	}
	SendFailed = &Desc{
		Name:   "xmppkit_send_failed_total",
		Help:   "Stanzas given to a session to send that were not written (the sender was told, or the session's SendFailed hook was).",
		Kind:   KindCounter,
		Labels: []string{"domain"},
	}
	InboundDropped = &Desc{
		Name:   "xmppkit_inbound_dropped_total",
		Help:   "Received stanzas that no handler saw: refused while closing, abandoned on abort, or timed out waiting for a full queue.",
		Kind:   KindCounter,
		Labels: []string{"domain"},
	}
	InboundQueue = &Desc{
		Name:   "xmppkit_inbound_queue_stanzas",
		Help:   "Received stanzas queued for a handler or being handled.",
		Kind:   KindGauge,
		Labels: []string{"domain"},
	}
	OutboundQueue = &Desc{
		Name:   "xmppkit_outbound_queue_bytes",
		Help:   "Bytes of stanzas queued to be written to the link.",
		Kind:   KindGauge,
		Labels: []string{"domain"},
	}
)

// Component metrics: reported by package component, the XEP-0114 client,
// with the component's domain as "domain".
var (
	ComponentLinkUp = &Desc{
		Name:   "xmppkit_component_link_up",
		Help:   "Links of the component to its server that are up (handshake done): 1 for a component of one link, 0 while disconnected.",
		Kind:   KindGauge,
		Labels: []string{"domain"},
	}
	ComponentHandshake = &Desc{
		Name:   "xmppkit_component_handshake_seconds",
		Help:   "Time from dialing the server to the end of a successful XEP-0114 handshake.",
		Kind:   KindHistogram,
		Labels: []string{"domain"},
	}
	ComponentReconnects = &Desc{
		Name:   "xmppkit_component_reconnects_total",
		Help:   "Links lost after the handshake, each followed by reconnection attempts.",
		Kind:   KindCounter,
		Labels: []string{"domain"},
	}
	ComponentConnectFailures = &Desc{
		Name:   "xmppkit_component_connect_failures_total",
		Help:   "Connection attempts that failed (dial, stream or handshake), retried or permanent.",
		Kind:   KindCounter,
		Labels: []string{"domain"},
	}
)

// Router metrics: reported by package router (and router/c2s).
var (
	// RouterStanzas counts what the router routes: stanzas from its
	// components, services and clients, and the stanzas it sends itself
	// (its answers, error bounces), once each, by kind.
	RouterStanzas = &Desc{
		Name:   "xmppkit_router_stanzas_total",
		Help:   "Stanzas the router routed (from components, services, clients and the router itself), by kind.",
		Kind:   KindCounter,
		Labels: []string{"kind"},
	}
	// RouterUndelivered counts by outcome: "dropped" (nothing owed, RFC
	// 6120 §8.3.1, RFC 6121 §8.5), "bounced" (an error reply was sent; the
	// reason is its condition, e.g. service-unavailable) or "denied" (by
	// policy); the reasons of drops and denials are router.Reason*.
	RouterUndelivered = &Desc{
		Name:   "xmppkit_router_undelivered_total",
		Help:   "Stanzas the router did not deliver, by outcome (dropped, bounced, denied) and reason.",
		Kind:   KindCounter,
		Labels: []string{"outcome", "reason"},
	}
	// RouterSessions is labelled "component" (XEP-0114 over TCP),
	// "service" (attached in process), "client" (a bound resource, RFC
	// 6120 §7) and "unauthenticated" (a connection that has not
	// authenticated yet, on any listener).
	RouterSessions = &Desc{
		Name:   "xmppkit_router_sessions",
		Help:   "Sessions of the router now, by kind (component, service, client, unauthenticated).",
		Kind:   KindGauge,
		Labels: []string{"kind"},
	}
	// RouterQueue is labelled "component" or "client".
	RouterQueue = &Desc{
		Name:   "xmppkit_router_queue_bytes",
		Help:   "Bytes queued by the router for its socket peers and not yet written, by peer kind (component, client).",
		Kind:   KindGauge,
		Labels: []string{"kind"},
	}
	// RouterHandshake is labelled "component" (accept to the end of the
	// XEP-0114 handshake) or "client" (accept to resource binding).
	RouterHandshake = &Desc{
		Name:   "xmppkit_router_handshake_seconds",
		Help:   "Time from accepting a connection to its authentication (component) or resource binding (client).",
		Kind:   KindHistogram,
		Labels: []string{"kind"},
	}
	// RouterKicked counts sessions the router ended: "slow" (a peer that
	// did not read its queue in time: resource-constraint), "conflict" (a
	// newcomer replaced it, Config.Conflict KickOld).
	RouterKicked = &Desc{
		Name:   "xmppkit_router_kicked_total",
		Help:   "Sessions the router ended with a stream error, by reason (slow, conflict).",
		Kind:   KindCounter,
		Labels: []string{"reason"},
	}
)

// Store metrics: reported by package journal, the store of the example
// services and of the router's rosters.
var (
	// JournalCommit is labelled with the journal's name
	// (journal.Options.Name; the directory's base name by default).
	JournalCommit = &Desc{
		Name:   "xmppkit_journal_commit_seconds",
		Help:   "Time to write and fsync one group commit of journal records.",
		Kind:   KindHistogram,
		Labels: []string{"store"},
	}
	JournalRecords = &Desc{
		Name:   "xmppkit_journal_records_total",
		Help:   "Records appended to a journal (each change of a store is one).",
		Kind:   KindCounter,
		Labels: []string{"store"},
	}
)

// All lists the catalogue, for a backend that declares every metric up
// front and for documentation.
var All = []*Desc{
	Stanzas, HandlerDuration, HandlerErrors, HandlerPanics, IQRoundTrip, IQUnanswered,
	SendFailed, InboundDropped, InboundQueue, OutboundQueue,
	ComponentLinkUp, ComponentHandshake, ComponentReconnects, ComponentConnectFailures,
	RouterStanzas, RouterUndelivered, RouterSessions, RouterQueue, RouterHandshake, RouterKicked,
	JournalCommit, JournalRecords,
}
