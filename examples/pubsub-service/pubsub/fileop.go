package pubsub

import (
	"errors"
	"fmt"
	"time"
)

// The changes a FileStore journals, one JSON array of them per transaction.
const (
	opCreate      = "create"      // a node: Config, Time (created), JID (creator)
	opConfigure   = "configure"   // a node's Config
	opDelete      = "delete"      // a node and everything in it
	opPurge       = "purge"       // every item of a node
	opPublish     = "publish"     // an item: Item, JID (publisher), Time, Seq, Loc
	opRetract     = "retract"     // an item
	opSubscribe   = "subscribe"   // a subscription: JID, SubID, State, SubOpts, Time
	opUnsubscribe = "unsubscribe" // a subscription: SubID
	opAffiliate   = "affiliate"   // JID's affiliation becomes Aff (none removes)
	opSeq         = "seq"         // the last Seq assigned (snapshots of an empty store)
)

type fileOp struct {
	Op      string      `json:"op"`
	Svc     string      `json:"svc,omitempty"`
	Node    string      `json:"node,omitempty"`
	Config  *Config     `json:"config,omitempty"`
	JID     string      `json:"jid,omitempty"`
	SubID   string      `json:"subid,omitempty"`
	State   string      `json:"state,omitempty"`
	SubOpts *SubOptions `json:"subopts,omitempty"`
	Aff     string      `json:"aff,omitempty"`
	Item    string      `json:"item,omitempty"`
	Time    int64       `json:"t,omitempty"`
	Seq     int64       `json:"seq,omitempty"`
	Size    int         `json:"size,omitempty"`
	Loc     loc         `json:"loc,omitzero"`

	payload string // opPublish while committing: what goes to the segment
	item    *iitem // opPublish while committing: the index entry to locate
}

// apply performs a journaled change during replay (tx.replaying).
func (tx *itx) apply(op *fileOp) error {
	k := Key{op.Svc, op.Node}
	if op.Seq > tx.ix.seq {
		tx.ix.seq = op.Seq
	}
	switch op.Op {
	case opSeq:
		return nil
	case opCreate:
		if op.Config == nil {
			return errors.New("create without configuration")
		}
		return tx.CreateNode(&Node{Key: k, Config: *op.Config, Created: time.Unix(0, op.Time), Creator: op.JID})
	case opConfigure:
		if op.Config == nil {
			return errors.New("configure without configuration")
		}
		return tx.SetConfig(k, *op.Config)
	case opDelete:
		return tx.DeleteNode(k)
	case opPurge:
		return tx.Purge(k)
	case opPublish:
		n, err := tx.node(k)
		if err != nil {
			return err
		}
		size := op.Size
		if op.Loc.Len == 0 {
			size = 0
		}
		tx.putItem(n, &iitem{id: op.Item, publisher: op.JID, time: op.Time, seq: op.Seq, size: int32(size), loc: op.Loc})
		return nil
	case opRetract:
		_, err := tx.DeleteItem(k, op.Item)
		return err
	case opSubscribe:
		var o SubOptions
		if op.SubOpts != nil {
			o = *op.SubOpts
		}
		return tx.PutSubscription(Subscription{Key: k, JID: op.JID, SubID: op.SubID, State: op.State, Options: o, Created: time.Unix(0, op.Time)})
	case opUnsubscribe:
		_, err := tx.DeleteSubscription(k, op.SubID)
		return err
	case opAffiliate:
		if !validAffiliation(op.Aff) {
			return fmt.Errorf("unknown affiliation %q", op.Aff)
		}
		return tx.SetAffiliation(Affiliation{Key: k, JID: op.JID, Affiliation: op.Aff})
	}
	return fmt.Errorf("unknown change %q", op.Op)
}

// legacyOp is a record of the store before transactions (one change per
// record, payloads inline). A FileStore still reads it and rewrites its
// directory in the current form.
type legacyOp struct {
	Kind        string  `json:"op"`
	Node        string  `json:"node"`
	Config      *Config `json:"config,omitempty"`
	JID         string  `json:"jid,omitempty"`
	SubID       string  `json:"subid,omitempty"`
	Deliver     *bool   `json:"deliver,omitempty"`
	Affiliation string  `json:"aff,omitempty"`
	Item        string  `json:"item,omitempty"`
	Payload     string  `json:"payload,omitempty"`
	Time        int64   `json:"t,omitempty"`
}

// applyLegacy applies a legacy record; a published payload stays in memory
// until the store writes it to a segment.
func (tx *itx) applyLegacy(op *legacyOp) error {
	k := Key{Node: op.Node}
	switch op.Kind {
	case "create":
		cfg := DefaultConfig()
		if op.Config != nil {
			cfg = *op.Config
		}
		if err := tx.CreateNode(&Node{Key: k, Config: cfg, Created: time.Unix(0, op.Time), Creator: op.JID}); err != nil {
			return err
		}
		if op.JID != "" {
			return tx.SetAffiliation(Affiliation{Key: k, JID: op.JID, Affiliation: AffOwner})
		}
		return nil
	case "configure":
		if op.Config == nil {
			return errors.New("configure without configuration")
		}
		return tx.SetConfig(k, *op.Config)
	case "publish":
		if op.Payload != "" && !validPayload(op.Payload) {
			return errors.New("payload is not one well-formed namespaced element")
		}
		n, err := tx.node(k)
		if err != nil {
			return err
		}
		tx.ix.seq++
		tx.putItem(n, &iitem{id: op.Item, time: op.Time, seq: tx.ix.seq, size: int32(len(op.Payload)), payload: op.Payload})
		return nil
	case "subscribe":
		o := DefaultSubOptions()
		if op.Deliver != nil {
			o.Deliver = *op.Deliver
		}
		return tx.PutSubscription(Subscription{Key: k, JID: op.JID, SubID: op.SubID, State: SubSubscribed, Options: o, Created: time.Unix(0, op.Time)})
	case "unsubscribe":
		subs, err := tx.Subscriptions(k)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if s.JID == op.JID && (op.SubID == "" || s.SubID == op.SubID) {
				if _, err := tx.DeleteSubscription(k, s.SubID); err != nil {
					return err
				}
			}
		}
		return nil
	case "affiliate":
		return tx.apply(&fileOp{Op: opAffiliate, Node: op.Node, JID: op.JID, Aff: op.Affiliation})
	case "delete", "purge", "retract":
		return tx.apply(&fileOp{Op: op.Kind, Node: op.Node, Item: op.Item})
	}
	return fmt.Errorf("unknown change %q", op.Kind)
}
