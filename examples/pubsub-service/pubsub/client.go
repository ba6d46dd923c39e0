package pubsub

import (
	"strconv"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// The requests of a pubsub client (XEP-0060 §6-§8), built for sending: each
// function returns the <pubsub/> payload of the iq (type set unless said),
// for demos, bots and tests that talk to a service:
//
//	iq := stanza.NewIQ(stanza.TypeSet, service, pubsub.PublishRequest("news", "", entry))
//	res, err := client.SendIQ(ctx, iq)

func pubsubEl(ns string, b *stanza.Builder) stanza.Element {
	return stanza.NewBuilder(ns, "pubsub").Append(b.Element()).Element()
}

// CreateRequest creates a node (§8.1), "" for an instant node, configured
// by the form when it is not nil.
func CreateRequest(node string, config *form.Form) stanza.Element {
	b := stanza.NewBuilder(NS, "pubsub").Child("", "create").OptAttr("node", node).End()
	if config != nil {
		b.Child("", "configure").Append(formEl(config)).End()
	}
	return b.Element()
}

// SubscribeRequest subscribes j to a node (§6.1).
func SubscribeRequest(node string, j jid.JID) stanza.Element {
	return pubsubEl(NS, stanza.NewBuilder("", "subscribe").Attr("node", node).Attr("jid", j.String()))
}

// UnsubscribeRequest ends a subscription (§6.2); subid may be "".
func UnsubscribeRequest(node string, j jid.JID, subid string) stanza.Element {
	return pubsubEl(NS, stanza.NewBuilder("", "unsubscribe").Attr("node", node).Attr("jid", j.String()).OptAttr("subid", subid))
}

// PublishRequest publishes one item (§7.1): id "" lets the service pick
// one; the publish-options form (§7.1.5) may be nil.
func PublishRequest(node, id string, payload stanza.Element, options *form.Form) stanza.Element {
	b := stanza.NewBuilder(NS, "pubsub").Child("", "publish").Attr("node", node).
		Child("", "item").OptAttr("id", id).Append(payload).End().End()
	if options != nil {
		b.Child("", "publish-options").Append(formEl(options)).End()
	}
	return b.Element()
}

// ItemsRequest retrieves items (§6.5), an iq get: the max most recent
// (0: all), or those with the ids.
func ItemsRequest(node string, max int, ids ...string) stanza.Element {
	b := stanza.NewBuilder(NS, "pubsub").Child("", "items").Attr("node", node)
	if max > 0 {
		b.Attr("max_items", strconv.Itoa(max))
	}
	for _, id := range ids {
		b.Child("", "item").Attr("id", id).End()
	}
	return b.Element()
}

// RetractRequest removes items (§7.2), telling subscribers when notify.
func RetractRequest(node string, notify bool, ids ...string) stanza.Element {
	b := stanza.NewBuilder(NS, "pubsub").Child("", "retract").Attr("node", node)
	if notify {
		b.Attr("notify", "true")
	}
	for _, id := range ids {
		b.Child("", "item").Attr("id", id).End()
	}
	return b.Element()
}

// DeleteRequest deletes a node (§8.4), in the owner namespace.
func DeleteRequest(node string) stanza.Element {
	return pubsubEl(NSOwner, stanza.NewBuilder("", "delete").Attr("node", node))
}

// PurgeRequest removes every item of a node (§8.5), in the owner
// namespace.
func PurgeRequest(node string) stanza.Element {
	return pubsubEl(NSOwner, stanza.NewBuilder("", "purge").Attr("node", node))
}

// ConfigureRequest submits a node configuration form (§8.2.4); a nil form
// asks for the current one (an iq get).
func ConfigureRequest(node string, f *form.Form) stanza.Element {
	b := stanza.NewBuilder("", "configure").Attr("node", node)
	if f != nil {
		b.Append(formEl(f))
	}
	return pubsubEl(NSOwner, b)
}

// NodeConfig returns a submitted pubsub#node_config form setting the
// fields (var, value pairs), for CreateRequest and ConfigureRequest.
func NodeConfig(pairs ...string) *form.Form {
	return submitted(FormNodeConfig, pairs)
}

// PublishOptions returns a submitted pubsub#publish-options form with the
// fields (var, value pairs), for PublishRequest.
func PublishOptions(pairs ...string) *form.Form {
	return submitted(FormPublishOptions, pairs)
}

func submitted(formType string, pairs []string) *form.Form {
	f := &form.Form{Type: form.TypeSubmit, Fields: []form.Field{{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{formType}}}}
	for i := 0; i+1 < len(pairs); i += 2 {
		f.Fields = append(f.Fields, form.Field{Var: pairs[i], Values: []string{pairs[i+1]}})
	}
	return f
}
