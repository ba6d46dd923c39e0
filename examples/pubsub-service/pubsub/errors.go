package pubsub

import (
	"xmppkit.dev/stanza"
)

// Namespaces of XEP-0060 §3 and the SHIM headers of XEP-0131.
const (
	NS        = "http://jabber.org/protocol/pubsub"
	NSOwner   = NS + "#owner"
	NSEvent   = NS + "#event"
	NSErrors  = NS + "#errors"
	NSSHIM    = "http://jabber.org/protocol/shim"
	featurePf = NS + "#"
)

// appErr returns a stanza error with a XEP-0060 §7 / §16.3 application
// condition element in the pubsub#errors namespace. A feature is set for
// <unsupported feature='...'/>.
func appErr(c stanza.Condition, app, feature, text string) *stanza.Error {
	e := stanza.NewError(c, text)
	e.App = stanza.NewBuilder(NSErrors, app).OptAttr("feature", feature).Element().XML()
	return e
}

func badRequest(text, app string) *stanza.Error {
	if app == "" {
		return stanza.NewError(stanza.BadRequest, text)
	}
	return appErr(stanza.BadRequest, app, "", text)
}

func nodeIDRequired() *stanza.Error {
	return appErr(stanza.BadRequest, "nodeid-required", "", "")
}

func itemNotFound(text string) *stanza.Error { return stanza.NewError(stanza.ItemNotFound, text) }

func forbidden(text string) *stanza.Error { return stanza.NewError(stanza.Forbidden, text) }

func unsupported(feature string) *stanza.Error {
	return appErr(stanza.FeatureNotImplemented, "unsupported", NS+"#"+feature, "")
}

func preconditionNotMet(field string) *stanza.Error {
	return appErr(stanza.Conflict, "precondition-not-met", "", "publish option "+field+" does not match the node configuration")
}

func closedNode() *stanza.Error {
	return appErr(stanza.NotAllowed, "closed-node", "", "the node is on a whitelist")
}

func invalidJID() *stanza.Error {
	return appErr(stanza.BadRequest, "invalid-jid", "", "the JID does not match the requester")
}

func notSubscribed(text string) *stanza.Error {
	return appErr(stanza.NotAuthorized, "not-subscribed", "", text)
}

func presenceRequired() *stanza.Error {
	return appErr(stanza.NotAuthorized, "presence-subscription-required", "", "the node is for the owner's presence subscribers")
}

func notInGroup() *stanza.Error {
	return appErr(stanza.NotAuthorized, "not-in-roster-group", "", "the node is for roster groups of the owner")
}

// policy is the answer to a request over one of the service's limits.
func policy(text string) *stanza.Error { return stanza.NewError(stanza.PolicyViolation, text) }
