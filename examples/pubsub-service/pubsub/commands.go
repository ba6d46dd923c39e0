package pubsub

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"xmppkit.dev/command"
	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Ad-hoc command nodes (XEP-0050) of the service.
const (
	// CommandGetPending is XEP-0060 §8.7: the owner picks a node and gets
	// the approval form of each pending subscription again.
	CommandGetPending = NS + "#get-pending"
	// CommandManagePending approves and denies pending subscriptions in
	// the command itself, for clients that do not show forms in messages.
	CommandManagePending = "urn:xmppkit:pubsub#manage-pending"
	// The admin commands (XEP-0133 style), for Options.Admins only.
	CommandListNodes  = NSAdmin + "#list-nodes"
	CommandDeleteNode = NSAdmin + "#delete-node"
	CommandPurgeUser  = NSAdmin + "#purge-user"
	// NSAdmin is the FORM_TYPE of the admin commands' forms.
	NSAdmin = "urn:xmppkit:pubsub:admin"
)

// cmdCtx is the request context of a command: it runs at the service's
// address, and what it changes is notified like any request.
func (s *Service) cmdCtx(ctx context.Context, r *command.Request) *reqCtx {
	return &reqCtx{ctx: ctx, snd: r.Sender, from: r.From, bare: r.From.Bare().String(), svc: r.To.DomainJID(), s: s}
}

func (s *Service) addCommands(reg *command.Registry) {
	atService := func(from, to jid.JID) bool { return to.Local() == "" }
	admins := func(from, to jid.JID) bool { return to.Local() == "" && s.isAdmin(from.Bare().String()) }
	reg.Add(command.Command{Node: CommandGetPending, Name: "Get pending subscription requests", Allow: atService,
		Handler: &command.Wizard{Steps: []command.Step{{Build: s.pendingNodesForm}}, Done: s.getPendingDone}})
	reg.Add(command.Command{Node: CommandManagePending, Name: "Approve or deny pending subscriptions", Allow: atService,
		Handler: &command.Wizard{Steps: []command.Step{{Build: s.pendingNodesForm}, {Build: s.pendingChoiceForm}}, Done: s.managePendingDone}})
	reg.Add(command.Command{Node: CommandListNodes, Name: "List nodes", Allow: admins,
		Handler: &command.Wizard{Steps: []command.Step{{Form: form.Form{Title: "List nodes", Fields: []form.Field{
			{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{NSAdmin}},
			{Type: form.JIDSingle, Var: "service", Label: "An account's PEP service (empty: the service's own nodes)"},
			{Type: form.TextSingle, Var: "after", Label: "Start after this node"},
			{Type: form.TextSingle, Var: "max", Label: "How many (at most 500)", Values: []string{"100"}},
		}}}}, Done: s.listNodesDone}})
	reg.Add(command.Command{Node: CommandDeleteNode, Name: "Delete a node", Allow: admins,
		Handler: &command.Wizard{Steps: []command.Step{{Form: form.Form{Title: "Delete a node", Fields: []form.Field{
			{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{NSAdmin}},
			{Type: form.JIDSingle, Var: "service", Label: "An account's PEP service (empty: the service's own nodes)"},
			{Type: form.TextSingle, Var: "node", Label: "Node", Required: true},
		}}}}, Done: s.deleteNodeDone}})
	reg.Add(command.Command{Node: CommandPurgeUser, Name: "Purge a user", Allow: admins,
		Handler: &command.Wizard{Steps: []command.Step{{Form: form.Form{Title: "Purge a user",
			Instructions: []string{"Deletes the nodes the user created (also its PEP nodes) and its subscriptions and affiliations at the service."},
			Fields: []form.Field{
				{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{NSAdmin}},
				{Type: form.JIDSingle, Var: "accountjid", Label: "The user's bare JID", Required: true},
			}}}}, Done: s.purgeUserDone}})
}

// ownedNodes returns the service's nodes the requester owns (all of them
// for an admin) and, of those, the ones with pending subscriptions.
func (s *Service) ownedNodes(tx Tx, rc *reqCtx) (owned, pending []string, err error) {
	var keys []Key
	if rc.admin() {
		nodes, err := tx.Nodes("", Page{})
		if err != nil {
			return nil, nil, err
		}
		for _, n := range nodes {
			keys = append(keys, n.Key)
		}
	} else {
		affs, err := tx.AffiliationsOf("", rc.bare)
		if err != nil {
			return nil, nil, err
		}
		for _, a := range affs {
			if a.Affiliation == AffOwner {
				keys = append(keys, a.Key)
			}
		}
	}
	for _, k := range keys {
		owned = append(owned, k.Node)
		p, err := pendingOf(tx, k)
		if err != nil {
			return nil, nil, err
		}
		if len(p) > 0 {
			pending = append(pending, k.Node)
		}
	}
	return owned, pending, nil
}

// pendingNodesForm is the first stage of get-pending (XEP-0060 §8.7.2):
// the nodes with pending subscriptions that the requester may approve.
func (s *Service) pendingNodesForm(ctx context.Context, r *command.Request, _ []*form.Form) (form.Form, error) {
	rc := s.cmdCtx(ctx, r)
	var owned, pending []string
	err := s.store.Read(ctx, func(tx Tx) error {
		var err error
		owned, pending, err = s.ownedNodes(tx, rc)
		return err
	})
	if err != nil {
		return form.Form{}, s.storeError(err)
	}
	if len(owned) == 0 {
		return form.Form{}, forbidden("you own no node here")
	}
	f := form.Form{Title: "Pending subscriptions", Fields: []form.Field{
		{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}},
		{Type: form.ListSingle, Var: "pubsub#node", Label: "Node", Required: true, Options: options(pending...)},
	}}
	if len(pending) == 0 {
		f.Instructions = []string{"No subscription is pending at your nodes."}
		f.Fields[1].Options = options(owned...)
	}
	return f, nil
}

// pendingNode reads the node chosen at the first stage, checking that the
// requester owns it.
func (s *Service) pendingNode(tx Tx, rc *reqCtx, f *form.Form) (*Node, error) {
	id, _ := f.Get("pubsub#node")
	return s.approver(tx, rc, id)
}

// getPendingDone sends the approval form of every pending subscription of
// the chosen node (XEP-0060 §8.7.4).
func (s *Service) getPendingDone(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
	rc := s.cmdCtx(ctx, r)
	var msgs []*stanza.Stanza
	err := s.store.Read(ctx, func(tx Tx) error {
		n, err := s.pendingNode(tx, rc, forms[0])
		if err != nil {
			return err
		}
		pending, err := pendingOf(tx, n.Key)
		for _, sub := range pending {
			msgs = append(msgs, authorizationMessage(rc.svc, r.From, n, sub))
		}
		return err
	})
	if err != nil {
		return nil, s.storeError(err)
	}
	for _, m := range msgs {
		if err := r.Sender.Send(ctx, m); err != nil {
			return nil, err
		}
	}
	return command.Done(command.InfoNote(fmt.Sprintf("%d pending subscription requests sent", len(msgs)))), nil
}

// pendingChoiceForm lists the pending subscribers of the chosen node to
// approve or deny.
func (s *Service) pendingChoiceForm(ctx context.Context, r *command.Request, forms []*form.Form) (form.Form, error) {
	rc := s.cmdCtx(ctx, r)
	var pending []Subscription
	var node string
	err := s.store.Read(ctx, func(tx Tx) error {
		n, err := s.pendingNode(tx, rc, forms[0])
		if err != nil {
			return err
		}
		node = n.Node
		pending, err = pendingOf(tx, n.Key)
		return err
	})
	if err != nil {
		return form.Form{}, s.storeError(err)
	}
	var opts []form.Option
	for _, sub := range pending {
		opts = append(opts, form.Option{Label: sub.JID, Value: sub.JID})
	}
	return form.Form{Title: "Pending subscriptions to " + node, Fields: []form.Field{
		{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormSubscribeAuth}},
		{Type: form.ListMulti, Var: "approve", Label: "Approve", Options: opts},
		{Type: form.ListMulti, Var: "deny", Label: "Deny", Options: opts},
	}}, nil
}

func (s *Service) managePendingDone(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
	approve, deny := forms[1].Values("approve"), forms[1].Values("deny")
	for _, j := range approve {
		if slices.Contains(deny, j) {
			return nil, command.BadPayload(j + " is both approved and denied")
		}
	}
	rc := s.cmdCtx(ctx, r)
	err := s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := s.pendingNode(tx, rc, forms[0])
		if err != nil {
			return nil, err
		}
		for _, j := range approve {
			if _, err := s.decide(tx, rc, n, j, "", true); err != nil {
				return nil, err
			}
		}
		for _, j := range deny {
			if _, err := s.decide(tx, rc, n, j, "", false); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return command.Done(command.InfoNote(fmt.Sprintf("%d approved, %d denied", len(approve), len(deny)))), nil
}

// serviceOf reads the service field of an admin form: "" for the service's
// own nodes, an account's bare JID for its PEP nodes.
func serviceOf(f *form.Form) (string, error) {
	j, ok, err := f.JID("service")
	if err != nil {
		return "", command.BadPayload("service must be a JID")
	}
	if !ok {
		return "", nil
	}
	return j.Bare().String(), nil
}

func (s *Service) listNodesDone(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
	f := forms[0]
	svc, err := serviceOf(f)
	if err != nil {
		return nil, err
	}
	after, _ := f.Get("after")
	max := 100
	if v, ok := f.Get("max"); ok && v != "" {
		if max, err = strconv.Atoi(v); err != nil || max <= 0 {
			return nil, command.BadPayload("max must be a positive number")
		}
		max = min(max, 500)
	}
	res := &form.Form{Type: form.TypeResult, Title: "Nodes", Reported: []form.Field{
		{Type: form.TextSingle, Var: "node", Label: "Node"},
		{Type: form.JIDSingle, Var: "creator", Label: "Creator"},
		{Type: form.TextSingle, Var: "items", Label: "Items"},
		{Type: form.TextSingle, Var: "bytes", Label: "Bytes"},
		{Type: form.TextSingle, Var: "subscriptions", Label: "Subscriptions"},
	}}
	var total int
	err = s.store.Read(ctx, func(tx Tx) error {
		nodes, err := tx.Nodes(svc, Page{After: after, Limit: max})
		if err != nil {
			return err
		}
		if total, err = tx.CountNodes(svc); err != nil {
			return err
		}
		for _, n := range nodes {
			count, bytes, err := tx.ItemStats(n.Key)
			if err != nil {
				return err
			}
			subs, err := tx.Subscriptions(n.Key)
			if err != nil {
				return err
			}
			res.Items = append(res.Items, []form.Field{
				{Var: "node", Values: []string{n.Node}},
				{Var: "creator", Values: []string{n.Creator}},
				{Var: "items", Values: []string{strconv.Itoa(count)}},
				{Var: "bytes", Values: []string{strconv.FormatInt(bytes, 10)}},
				{Var: "subscriptions", Values: []string{strconv.Itoa(len(subs))}},
			})
		}
		return nil
	})
	if err != nil {
		return nil, s.storeError(err)
	}
	note := fmt.Sprintf("%d nodes in all", total)
	if len(res.Items) == max {
		note += "; run again with after=" + res.Items[len(res.Items)-1][0].Values[0] + " for more"
	}
	return command.Result(res, command.InfoNote(note)), nil
}

func (s *Service) deleteNodeDone(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
	svc, err := serviceOf(forms[0])
	if err != nil {
		return nil, err
	}
	id, _ := forms[0].Get("node")
	rc := s.cmdCtx(ctx, r)
	rc.key = svc
	if svc != "" {
		rc.pep, rc.svc = true, jid.MustParse(svc)
		if s.priv != nil {
			rc.snd = s.priv.OnBehalf(r.Sender)
		}
	}
	err = s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		n, err := tx.Node(Key{svc, id})
		if err != nil {
			return nil, err
		}
		return nil, s.removeNode(tx, rc, n, "")
	})
	if err != nil {
		return nil, err
	}
	return command.Done(command.InfoNote("node " + id + " deleted")), nil
}

func (s *Service) purgeUserDone(ctx context.Context, r *command.Request, forms []*form.Form) (*command.Response, error) {
	j, _, err := forms[0].JID("accountjid")
	if err != nil {
		return nil, command.BadPayload("accountjid must be a JID")
	}
	user := j.Bare().String()
	rc := s.cmdCtx(ctx, r)
	var nodes, subs, affs int
	err = s.write(rc, func(tx Tx) (*stanza.Stanza, error) {
		nodes, subs, affs = 0, 0, 0
		keys, err := tx.NodesCreatedBy(user)
		if err != nil {
			return nil, err
		}
		pep, err := tx.Nodes(user, Page{})
		if err != nil {
			return nil, err
		}
		for _, n := range pep {
			if !slices.Contains(keys, n.Key) {
				keys = append(keys, n.Key)
			}
		}
		for _, k := range keys {
			n, err := tx.Node(k)
			if err != nil {
				return nil, err
			}
			if err := tx.DeleteNode(n.Key); err != nil {
				return nil, err
			}
			nodes++
		}
		mine, err := tx.SubscriptionsOf("", user)
		if err != nil {
			return nil, err
		}
		for _, sub := range mine {
			if _, err := tx.DeleteSubscription(sub.Key, sub.SubID); err != nil {
				return nil, err
			}
			subs++
		}
		held, err := tx.AffiliationsOf("", user)
		if err != nil {
			return nil, err
		}
		for _, a := range held {
			a.Affiliation = AffNone
			if err := tx.SetAffiliation(a); err != nil {
				return nil, err
			}
			affs++
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return command.Done(command.InfoNote(fmt.Sprintf("%s: %d nodes deleted, %d subscriptions and %d affiliations removed",
		user, nodes, subs, affs))), nil
}
