package pubsub

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// index is the in-memory state under MemoryStore and FileStore: every node
// with its configuration, affiliations and subscriptions, and for each item
// its id, publisher, time, order and size, but not necessarily its payload
// (FileStore keeps payloads on disk and reads them on demand). Its cost is
// about what Usage.Bytes charges for each entry, so the store limits
// (Limits.MaxStoreBytes) bound it.
//
// Changes go through an itx, which applies each at once (so a transaction
// reads its own writes), records how to undo it (for a transaction that
// fails) and what to persist (for FileStore's journal).
type index struct {
	nodes    map[Key]*inode
	svcs     map[string][]string         // service -> sorted NodeIDs
	creator  map[string]map[Key]struct{} // creator -> nodes
	subsOf   map[string]map[Key]int      // bare JID -> nodes -> subscriptions there
	affsOf   map[string]map[Key]struct{} // bare JID -> nodes affiliated with
	expiring map[Key]struct{}            // nodes with ItemExpire > 0
	seq      int64                       // last Seq assigned
	usage    Usage
}

type inode struct {
	rec      Node
	affs     map[string]string // bare JID -> affiliation
	affOrder []string
	subs     []Subscription
	items    []*iitem // ascending Seq, dead ones left in place until compacted
	dead     int
	byID     map[string]*iitem
	bytes    int64 // payload bytes of live items
}

type iitem struct {
	id, publisher string
	time          int64 // Unix nanoseconds
	seq           int64
	size          int32
	dead          bool
	payload       string // MemoryStore only
	loc           loc    // FileStore only
}

// loc is where FileStore keeps an item's payload: a frame in a segment.
type loc struct {
	Seg int32 `json:"seg"`
	Off int64 `json:"off"`
	Len int32 `json:"len"` // of the whole frame
}

func newIndex() *index {
	return &index{
		nodes:    map[Key]*inode{},
		svcs:     map[string][]string{},
		creator:  map[string]map[Key]struct{}{},
		subsOf:   map[string]map[Key]int{},
		affsOf:   map[string]map[Key]struct{}{},
		expiring: map[Key]struct{}{},
	}
}

func (ix *index) setExpiring(k Key, c Config) {
	if c.ItemExpire > 0 {
		ix.expiring[k] = struct{}{}
	} else {
		delete(ix.expiring, k)
	}
}

func (tx *itx) ExpiringNodes() ([]Key, error) {
	out := make([]Key, 0, len(tx.ix.expiring))
	for k := range tx.ix.expiring {
		out = append(out, k)
	}
	return out, nil
}

func nodeCost(k Key) int64            { return CostNode + int64(len(k.Node)) }
func itemCost(id string, n int) int64 { return CostItem + int64(len(id)) + int64(n) }
func subCost(j string) int64          { return CostSubscription + int64(len(j)) }
func affCost(j string) int64          { return CostAffiliation + int64(len(j)) }

func addTo[V any](m map[string]map[Key]V, who string, k Key, v V) {
	s := m[who]
	if s == nil {
		s = map[Key]V{}
		m[who] = s
	}
	s[k] = v
}

func delFrom[V any](m map[string]map[Key]V, who string, k Key) {
	if s := m[who]; s != nil {
		delete(s, k)
		if len(s) == 0 {
			delete(m, who)
		}
	}
}

// live returns the position of the item in n.items (binary search on seq).
func (n *inode) pos(it *iitem) int {
	return sort.Search(len(n.items), func(i int) bool { return n.items[i].seq >= it.seq })
}

// compact drops dead items from the slice when they outnumber the live.
func (n *inode) compact() {
	if n.dead < 64 || n.dead < len(n.items)-n.dead {
		return
	}
	n.items = slices.DeleteFunc(n.items, func(it *iitem) bool { return it.dead })
	n.dead = 0
}

func (it *iitem) item(payload string) *Item {
	return &Item{ID: it.id, Publisher: it.publisher, Time: time.Unix(0, it.time), Seq: it.seq, Payload: payload, Size: int(it.size)}
}

// itx is one transaction on an index.
type itx struct {
	ix    *index
	write bool
	undo  []func()
	ops   []*fileOp // what to persist (FileStore), in order
	// payload reads an item's payload (FileStore: from its segment).
	payload func(*iitem) (string, error)
	// record is false while a FileStore replays its journal.
	record bool
	// replaying: a FileStore applies its journal; nothing to undo.
	replaying bool
	// touched are the nodes that lost items, compacted after the commit;
	// killed the items that died (FileStore counts its segments' dead bytes).
	touched []*inode
	killed  []*iitem
}

func (tx *itx) onUndo(f func()) {
	if !tx.replaying {
		tx.undo = append(tx.undo, f)
	}
}

func (tx *itx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
	tx.undo, tx.ops, tx.touched, tx.killed = nil, nil, nil, nil
}

func (tx *itx) log(op *fileOp) {
	if tx.record {
		tx.ops = append(tx.ops, op)
	}
}

func (tx *itx) node(k Key) (*inode, error) {
	n := tx.ix.nodes[k]
	if n == nil {
		return nil, ErrNotFound
	}
	return n, nil
}

func (tx *itx) writable() error {
	if !tx.write {
		return ErrReadOnly
	}
	return nil
}

func (tx *itx) Node(k Key) (*Node, error) {
	n, err := tx.node(k)
	if err != nil {
		return nil, err
	}
	rec := n.rec
	return &rec, nil
}

func (tx *itx) Nodes(service string, p Page) ([]*Node, error) {
	ids := tx.ix.svcs[service]
	var sel []string
	if !p.Backward {
		i := sort.SearchStrings(ids, p.After)
		if p.After != "" && i < len(ids) && ids[i] == p.After {
			i++
		}
		sel = ids[i:]
		if p.Limit > 0 && len(sel) > p.Limit {
			sel = sel[:p.Limit]
		}
	} else {
		j := len(ids)
		if p.After != "" {
			j = sort.SearchStrings(ids, p.After)
		}
		sel = ids[:j]
		if p.Limit > 0 && len(sel) > p.Limit {
			sel = sel[len(sel)-p.Limit:]
		}
	}
	out := make([]*Node, len(sel))
	for i, id := range sel {
		rec := tx.ix.nodes[Key{service, id}].rec
		out[i] = &rec
	}
	return out, nil
}

func (tx *itx) CountNodes(service string) (int, error) { return len(tx.ix.svcs[service]), nil }

func (tx *itx) NodesCreatedBy(creator string) ([]Key, error) {
	var out []Key
	for k := range tx.ix.creator[creator] {
		out = append(out, k)
	}
	return out, nil
}

func (tx *itx) CreateNode(rec *Node) error {
	if err := tx.writable(); err != nil {
		return err
	}
	k := rec.Key
	if tx.ix.nodes[k] != nil {
		return ErrExists
	}
	n := &inode{rec: *rec, affs: map[string]string{}, byID: map[string]*iitem{}}
	tx.ix.nodes[k] = n
	ids := tx.ix.svcs[k.Service]
	i := sort.SearchStrings(ids, k.Node)
	tx.ix.svcs[k.Service] = slices.Insert(ids, i, k.Node)
	addTo(tx.ix.creator, rec.Creator, k, struct{}{})
	tx.ix.setExpiring(k, rec.Config)
	tx.ix.usage.Nodes++
	tx.ix.usage.Bytes += nodeCost(k)
	tx.onUndo(func() { tx.ix.removeNode(k) })
	c := rec.Config
	tx.log(&fileOp{Op: opCreate, Svc: k.Service, Node: k.Node, Config: &c, Time: rec.Created.UnixNano(), JID: rec.Creator})
	return nil
}

// removeNode takes a node and everything in it out of the index, and
// returns it (to put back with restoreNode).
func (ix *index) removeNode(k Key) *inode {
	n := ix.nodes[k]
	if n == nil {
		return nil
	}
	delete(ix.nodes, k)
	delete(ix.expiring, k)
	ids := ix.svcs[k.Service]
	if i := sort.SearchStrings(ids, k.Node); i < len(ids) && ids[i] == k.Node {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(ix.svcs, k.Service)
	} else {
		ix.svcs[k.Service] = ids
	}
	delFrom(ix.creator, n.rec.Creator, k)
	for _, s := range n.subs {
		delFrom(ix.subsOf, bareOf(s.JID), k)
		ix.usage.Bytes -= subCost(s.JID)
	}
	ix.usage.Subscriptions -= len(n.subs)
	for j := range n.affs {
		delFrom(ix.affsOf, j, k)
		ix.usage.Bytes -= affCost(j)
	}
	for _, it := range n.items {
		if !it.dead {
			ix.addItem(it, -1)
		}
	}
	ix.usage.Nodes--
	ix.usage.Bytes -= nodeCost(k)
	return n
}

func (ix *index) restoreNode(n *inode) {
	k := n.rec.Key
	ix.nodes[k] = n
	ix.setExpiring(k, n.rec.Config)
	ids := ix.svcs[k.Service]
	i := sort.SearchStrings(ids, k.Node)
	ix.svcs[k.Service] = slices.Insert(ids, i, k.Node)
	addTo(ix.creator, n.rec.Creator, k, struct{}{})
	for _, s := range n.subs {
		b := bareOf(s.JID)
		addTo(ix.subsOf, b, k, ix.subsOf[b][k]+1)
		ix.usage.Bytes += subCost(s.JID)
	}
	ix.usage.Subscriptions += len(n.subs)
	for j := range n.affs {
		addTo(ix.affsOf, j, k, struct{}{})
		ix.usage.Bytes += affCost(j)
	}
	for _, it := range n.items {
		if !it.dead {
			ix.addItem(it, 1)
		}
	}
	ix.usage.Nodes++
	ix.usage.Bytes += nodeCost(k)
}

func (tx *itx) SetConfig(k Key, c Config) error {
	if err := tx.writable(); err != nil {
		return err
	}
	n, err := tx.node(k)
	if err != nil {
		return err
	}
	old := n.rec.Config
	n.rec.Config = c
	tx.ix.setExpiring(k, c)
	tx.onUndo(func() { n.rec.Config = old; tx.ix.setExpiring(k, old) })
	tx.log(&fileOp{Op: opConfigure, Svc: k.Service, Node: k.Node, Config: &c})
	return nil
}

func (tx *itx) DeleteNode(k Key) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if tx.ix.nodes[k] == nil {
		return ErrNotFound
	}
	n := tx.ix.removeNode(k)
	for _, it := range n.items {
		if !it.dead {
			tx.killed = append(tx.killed, it)
		}
	}
	tx.onUndo(func() { tx.ix.restoreNode(n) })
	tx.log(&fileOp{Op: opDelete, Svc: k.Service, Node: k.Node})
	return nil
}

func (tx *itx) Affiliation(k Key, bare string) (string, error) {
	n, err := tx.node(k)
	if err != nil {
		return "", err
	}
	if a, ok := n.affs[bare]; ok {
		return a, nil
	}
	return AffNone, nil
}

func (tx *itx) Affiliations(k Key) ([]Affiliation, error) {
	n, err := tx.node(k)
	if err != nil {
		return nil, err
	}
	out := make([]Affiliation, 0, len(n.affOrder))
	for _, j := range n.affOrder {
		out = append(out, Affiliation{Key: k, JID: j, Affiliation: n.affs[j]})
	}
	return out, nil
}

func (tx *itx) AffiliationsOf(service, bare string) ([]Affiliation, error) {
	var out []Affiliation
	for k := range tx.ix.affsOf[bare] {
		if k.Service == service {
			out = append(out, Affiliation{Key: k, JID: bare, Affiliation: tx.ix.nodes[k].affs[bare]})
		}
	}
	slices.SortFunc(out, func(a, b Affiliation) int { return compareStrings(a.Node, b.Node) })
	return out, nil
}

func (tx *itx) SetAffiliation(a Affiliation) error {
	if err := tx.writable(); err != nil {
		return err
	}
	n, err := tx.node(a.Key)
	if err != nil {
		return err
	}
	old, had := n.affs[a.JID]
	oldOrder := n.affOrder
	switch {
	case a.Affiliation == AffNone && !had:
		return nil
	case a.Affiliation == AffNone:
		delete(n.affs, a.JID)
		n.affOrder = slices.DeleteFunc(slices.Clone(n.affOrder), func(j string) bool { return j == a.JID })
		delFrom(tx.ix.affsOf, a.JID, a.Key)
		tx.ix.usage.Bytes -= affCost(a.JID)
	case !had:
		n.affs[a.JID] = a.Affiliation
		n.affOrder = append(slices.Clip(n.affOrder), a.JID)
		addTo(tx.ix.affsOf, a.JID, a.Key, struct{}{})
		tx.ix.usage.Bytes += affCost(a.JID)
	default:
		n.affs[a.JID] = a.Affiliation
	}
	tx.onUndo(func() {
		n.affOrder = oldOrder
		if had {
			if _, still := n.affs[a.JID]; !still {
				addTo(tx.ix.affsOf, a.JID, a.Key, struct{}{})
				tx.ix.usage.Bytes += affCost(a.JID)
			}
			n.affs[a.JID] = old
		} else {
			delete(n.affs, a.JID)
			delFrom(tx.ix.affsOf, a.JID, a.Key)
			tx.ix.usage.Bytes -= affCost(a.JID)
		}
	})
	tx.log(&fileOp{Op: opAffiliate, Svc: a.Service, Node: a.Node, JID: a.JID, Aff: a.Affiliation})
	return nil
}

func (tx *itx) Subscriptions(k Key) ([]Subscription, error) {
	n, err := tx.node(k)
	if err != nil {
		return nil, err
	}
	return slices.Clone(n.subs), nil
}

func (tx *itx) SubscriptionsOf(service, bare string) ([]Subscription, error) {
	var keys []Key
	for k := range tx.ix.subsOf[bare] {
		if k.Service == service {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b Key) int { return compareStrings(a.Node, b.Node) })
	var out []Subscription
	for _, k := range keys {
		for _, s := range tx.ix.nodes[k].subs {
			if bareOf(s.JID) == bare {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (tx *itx) PutSubscription(s Subscription) error {
	if err := tx.writable(); err != nil {
		return err
	}
	n, err := tx.node(s.Key)
	if err != nil {
		return err
	}
	old := n.subs
	i := slices.IndexFunc(n.subs, func(x Subscription) bool { return x.SubID == s.SubID })
	b := bareOf(s.JID)
	if i >= 0 {
		ob := bareOf(n.subs[i].JID)
		oj := n.subs[i].JID
		n.subs = slices.Clone(n.subs)
		n.subs[i] = s
		if ob != b || oj != s.JID {
			tx.ix.unsub(ob, s.Key, oj)
			tx.ix.sub(b, s.Key, s.JID)
			tx.onUndo(func() { tx.ix.unsub(b, s.Key, s.JID); tx.ix.sub(ob, s.Key, oj) })
		}
	} else {
		n.subs = append(slices.Clip(n.subs), s)
		tx.ix.sub(b, s.Key, s.JID)
		tx.ix.usage.Subscriptions++
		tx.onUndo(func() { tx.ix.unsub(b, s.Key, s.JID); tx.ix.usage.Subscriptions-- })
	}
	tx.onUndo(func() { n.subs = old })
	o := s.Options
	tx.log(&fileOp{Op: opSubscribe, Svc: s.Service, Node: s.Node, JID: s.JID, SubID: s.SubID, State: s.State, SubOpts: &o, Time: s.Created.UnixNano()})
	return nil
}

func (ix *index) sub(bare string, k Key, j string) {
	addTo(ix.subsOf, bare, k, ix.subsOf[bare][k]+1)
	ix.usage.Bytes += subCost(j)
}

func (ix *index) unsub(bare string, k Key, j string) {
	if c := ix.subsOf[bare][k]; c > 1 {
		ix.subsOf[bare][k] = c - 1
	} else {
		delFrom(ix.subsOf, bare, k)
	}
	ix.usage.Bytes -= subCost(j)
}

func (tx *itx) DeleteSubscription(k Key, subid string) (bool, error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	n, err := tx.node(k)
	if err != nil {
		return false, err
	}
	i := slices.IndexFunc(n.subs, func(x Subscription) bool { return x.SubID == subid })
	if i < 0 {
		return false, nil
	}
	old := n.subs
	s := n.subs[i]
	n.subs = slices.Delete(slices.Clone(n.subs), i, i+1)
	tx.ix.unsub(bareOf(s.JID), k, s.JID)
	tx.ix.usage.Subscriptions--
	tx.onUndo(func() {
		n.subs = old
		tx.ix.sub(bareOf(s.JID), k, s.JID)
		tx.ix.usage.Subscriptions++
	})
	tx.log(&fileOp{Op: opUnsubscribe, Svc: k.Service, Node: k.Node, SubID: subid})
	return true, nil
}

func (tx *itx) load(it *iitem) (string, error) {
	if tx.payload == nil || it.loc.Len == 0 {
		return it.payload, nil
	}
	return tx.payload(it)
}

func (tx *itx) Item(k Key, id string) (*Item, error) {
	n, err := tx.node(k)
	if err != nil {
		return nil, err
	}
	it := n.byID[id]
	if it == nil {
		return nil, ErrNotFound
	}
	p, err := tx.load(it)
	if err != nil {
		return nil, err
	}
	return it.item(p), nil
}

func (tx *itx) Items(k Key, q ItemQuery) ([]*Item, error) {
	n, err := tx.node(k)
	if err != nil {
		return nil, err
	}
	var out []*Item
	add := func(it *iitem) error {
		p := ""
		if q.Payloads {
			var err error
			if p, err = tx.load(it); err != nil {
				return err
			}
		}
		out = append(out, it.item(p))
		return nil
	}
	if q.IDs != nil {
		for _, id := range q.IDs {
			if it := n.byID[id]; it != nil {
				if err := add(it); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	step, i := -1, len(n.items)-1
	if q.OldestFirst {
		step, i = 1, 0
	}
	if q.After != "" {
		a := n.byID[q.After]
		if a == nil {
			return nil, ErrNotFound
		}
		i = n.pos(a) + step
	}
	for ; i >= 0 && i < len(n.items) && (q.Limit <= 0 || len(out) < q.Limit); i += step {
		if it := n.items[i]; !it.dead {
			if err := add(it); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (tx *itx) ItemStats(k Key) (int, int64, error) {
	n, err := tx.node(k)
	if err != nil {
		return 0, 0, err
	}
	return len(n.items) - n.dead, n.bytes, nil
}

func (tx *itx) PutItem(k Key, it *Item) error {
	if err := tx.writable(); err != nil {
		return err
	}
	n, err := tx.node(k)
	if err != nil {
		return err
	}
	tx.ix.seq++
	it.Seq = tx.ix.seq
	ni := &iitem{id: it.ID, publisher: it.Publisher, time: it.Time.UnixNano(), seq: it.Seq, size: int32(len(it.Payload)), payload: it.Payload}
	tx.putItem(n, ni)
	tx.log(&fileOp{Op: opPublish, Svc: k.Service, Node: k.Node, Item: it.ID, JID: it.Publisher, Time: ni.time, Seq: it.Seq, Size: len(it.Payload), payload: it.Payload, item: ni})
	return nil
}

// putItem adds ni to n, replacing an item with its id.
func (tx *itx) putItem(n *inode, ni *iitem) {
	old := n.byID[ni.id]
	if old != nil {
		tx.killItem(n, old)
	}
	n.items = append(n.items, ni)
	n.byID[ni.id] = ni
	n.bytes += int64(ni.size)
	tx.ix.addItem(ni, 1)
	tx.onUndo(func() {
		n.items = n.items[:len(n.items)-1]
		delete(n.byID, ni.id)
		n.bytes -= int64(ni.size)
		tx.ix.addItem(ni, -1)
		if old != nil {
			tx.reviveItem(n, old)
		}
	})
}

func (tx *itx) killItem(n *inode, it *iitem) {
	it.dead = true
	n.dead++
	delete(n.byID, it.id)
	n.bytes -= int64(it.size)
	tx.ix.addItem(it, -1)
	tx.touched = append(tx.touched, n)
	tx.killed = append(tx.killed, it)
}

func (tx *itx) reviveItem(n *inode, it *iitem) {
	it.dead = false
	n.dead--
	n.byID[it.id] = it
	n.bytes += int64(it.size)
	tx.ix.addItem(it, 1)
}

// addItem counts an item in (d 1) or out (d -1) of the usage.
func (ix *index) addItem(it *iitem, d int) {
	ix.usage.Items += d
	ix.usage.Bytes += int64(d) * itemCost(it.id, int(it.size))
	ix.usage.ItemBytes += int64(d) * int64(len(it.id)+int(it.size))
}

func (tx *itx) DeleteItem(k Key, id string) (bool, error) {
	if err := tx.writable(); err != nil {
		return false, err
	}
	n, err := tx.node(k)
	if err != nil {
		return false, err
	}
	it := n.byID[id]
	if it == nil {
		return false, nil
	}
	tx.killItem(n, it)
	tx.onUndo(func() { tx.reviveItem(n, it) })
	tx.log(&fileOp{Op: opRetract, Svc: k.Service, Node: k.Node, Item: id})
	return true, nil
}

func (tx *itx) Purge(k Key) error {
	if err := tx.writable(); err != nil {
		return err
	}
	n, err := tx.node(k)
	if err != nil {
		return err
	}
	items, dead, byID, bytes := n.items, n.dead, n.byID, n.bytes
	for _, it := range items {
		if !it.dead {
			tx.ix.addItem(it, -1)
			tx.killed = append(tx.killed, it)
		}
	}
	n.items, n.dead, n.byID, n.bytes = nil, 0, map[string]*iitem{}, 0
	tx.onUndo(func() {
		n.items, n.dead, n.byID, n.bytes = items, dead, byID, bytes
		for _, it := range items {
			if !it.dead {
				tx.ix.addItem(it, 1)
			}
		}
	})
	tx.log(&fileOp{Op: opPurge, Svc: k.Service, Node: k.Node})
	return nil
}

func (tx *itx) Usage() (Usage, error) { return tx.ix.usage, nil }

// done ends a committed transaction: dead items may now be compacted.
func (tx *itx) done() {
	for _, n := range tx.touched {
		n.compact()
	}
	tx.undo, tx.touched, tx.killed = nil, nil, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var _ Tx = (*itx)(nil)

// check recomputes the derived parts of the index (usage, the per-JID and
// per-service tables) and reports the first mismatch: tests and fuzzing
// run it after each request.
func (ix *index) check() error {
	var u Usage
	svcs := map[string]int{}
	for k, n := range ix.nodes {
		if n.rec.Key != k {
			return fmt.Errorf("node %v filed as %v", n.rec.Key, k)
		}
		u.Nodes++
		u.Bytes += nodeCost(k)
		svcs[k.Service]++
		if _, ok := ix.creator[n.rec.Creator][k]; !ok {
			return fmt.Errorf("node %v missing from its creator's", k)
		}
		for j := range n.affs {
			u.Bytes += affCost(j)
			if _, ok := ix.affsOf[j][k]; !ok {
				return fmt.Errorf("affiliation of %s at %v not indexed", j, k)
			}
		}
		if len(n.affOrder) != len(n.affs) {
			return fmt.Errorf("node %v: %d affiliations in order, %d in all", k, len(n.affOrder), len(n.affs))
		}
		subs := map[string]int{}
		for _, s := range n.subs {
			u.Subscriptions++
			u.Bytes += subCost(s.JID)
			subs[bareOf(s.JID)]++
		}
		for b, c := range subs {
			if ix.subsOf[b][k] != c {
				return fmt.Errorf("subscriptions of %s at %v: %d indexed, %d there", b, k, ix.subsOf[b][k], c)
			}
		}
		live, dead := 0, 0
		var bytes int64
		var last int64
		for _, it := range n.items {
			if it.seq <= last {
				return fmt.Errorf("node %v: items out of order", k)
			}
			last = it.seq
			if it.dead {
				dead++
				continue
			}
			live++
			bytes += int64(it.size)
			u.Items++
			u.Bytes += itemCost(it.id, int(it.size))
			u.ItemBytes += int64(len(it.id)) + int64(it.size)
			if n.byID[it.id] != it {
				return fmt.Errorf("node %v: item %q not indexed by id", k, it.id)
			}
		}
		if dead != n.dead || live != len(n.byID) || bytes != n.bytes {
			return fmt.Errorf("node %v: %d/%d dead, %d/%d live, %d/%d bytes", k, dead, n.dead, live, len(n.byID), bytes, n.bytes)
		}
		if _, exp := ix.expiring[k]; exp != (n.rec.Config.ItemExpire > 0) {
			return fmt.Errorf("node %v: expiring %v", k, exp)
		}
	}
	for svc, ids := range ix.svcs {
		if len(ids) != svcs[svc] || !sort.StringsAreSorted(ids) {
			return fmt.Errorf("service %q lists %d nodes, has %d", svc, len(ids), svcs[svc])
		}
	}
	if u != ix.usage {
		return fmt.Errorf("usage %+v, recomputed %+v", ix.usage, u)
	}
	return nil
}
