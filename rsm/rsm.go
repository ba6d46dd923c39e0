package rsm

import (
	"strconv"
	"strings"

	"xmppkit.dev/internal/elem"
	"xmppkit.dev/stanza"
)

// NS is the XEP-0059 namespace, also its service discovery feature (§4).
const NS = "http://jabber.org/protocol/rsm"

// Query is the <set/> a requester sends (XEP-0059 §2): how many items it
// wants and where the page starts. The zero Query asks for nothing in
// particular: the responder's first page of its own size.
type Query struct {
	// Max is the largest number of items wanted (§2.1); it counts only when
	// HasMax is set. Zero asks for the count alone (§2.7).
	Max    int
	HasMax bool
	// After is the UID of the last item of the previous page: the page
	// starts with the item that follows it (§2.2). "" when absent.
	After string
	// Before is the UID of the first item of the next page: the page ends
	// with the item that precedes it (§2.3). It counts only when HasBefore
	// is set; an empty Before with HasBefore asks for the last page (§2.5).
	Before    string
	HasBefore bool
	// Index is the position in the full set of the first item wanted
	// (§2.6); it counts only when HasIndex is set.
	Index    int
	HasIndex bool
}

// First asks for the first page of at most max items (§2.1, §2.2).
func First(max int) Query { return Query{Max: max, HasMax: true} }

// Next asks for the page of at most max items after the item with UID after
// (§2.2): the Result.Last of the page before.
func Next(max int, after string) Query { return Query{Max: max, HasMax: true, After: after} }

// Prev asks for the page of at most max items before the item with UID
// before (§2.3): the Result.First of the page after.
func Prev(max int, before string) Query {
	return Query{Max: max, HasMax: true, Before: before, HasBefore: true}
}

// Last asks for the last page of at most max items (§2.5).
func Last(max int) Query { return Query{Max: max, HasMax: true, HasBefore: true} }

// AtIndex asks for at most max items starting at position index of the full
// set (§2.6).
func AtIndex(max, index int) Query {
	return Query{Max: max, HasMax: true, Index: index, HasIndex: true}
}

// CountOnly asks for the number of items and no items (§2.7).
func CountOnly() Query { return Query{HasMax: true} }

// IsZero reports whether q asks for nothing: no <set/> was sent.
func (q Query) IsZero() bool { return q == Query{} }

// Validate checks what the XEP leaves no room for: no negative max or
// index, not both after and before, no index with either (the requester
// names one starting point, §2.2, §2.3, §2.6). The error is bad-request.
func (q Query) Validate() error {
	switch {
	case q.HasMax && q.Max < 0:
		return badRequest("negative <max/>")
	case q.HasIndex && q.Index < 0:
		return badRequest("negative <index/>")
	case q.After != "" && q.HasBefore:
		return badRequest("both <after/> and <before/>")
	case q.HasIndex && (q.After != "" || q.HasBefore):
		return badRequest("<index/> with <after/> or <before/>")
	}
	return nil
}

// Element returns q as a <set xmlns='http://jabber.org/protocol/rsm'/>
// element to put in a request.
func (q Query) Element() stanza.Element {
	b := stanza.NewBuilder(NS, "set")
	if q.HasMax {
		b.TextElement("max", strconv.Itoa(q.Max))
	}
	if q.After != "" {
		b.TextElement("after", q.After)
	}
	if q.HasBefore {
		b.TextElement("before", q.Before)
	}
	if q.HasIndex {
		b.TextElement("index", strconv.Itoa(q.Index))
	}
	return b.Element()
}

// Result is the <set/> a responder returns with a page (XEP-0059 §2.2): the
// UIDs of the page's first and last items, the position of the first one
// and the size of the full set. An empty page has neither First nor Last.
type Result struct {
	First string // UID of the first item of the page; "" for an empty page
	Last  string // UID of the last item of the page; "" for an empty page
	// FirstIndex is the position of First in the full set; it counts only
	// when HasFirstIndex is set (and First is not "").
	FirstIndex    int
	HasFirstIndex bool
	// Count is the number of items in the full set; it counts only when
	// HasCount is set.
	Count    int
	HasCount bool
	// Exact says Count and FirstIndex are exact, not estimates: written as
	// exact='true' and exact-index='true' (XEP-0059 1.1, §2.2).
	Exact bool
}

// Empty reports whether the page has no items.
func (r Result) Empty() bool { return r.First == "" && r.Last == "" }

// Element returns r as a <set xmlns='http://jabber.org/protocol/rsm'/>
// element to put in a response.
func (r Result) Element() stanza.Element {
	b := stanza.NewBuilder(NS, "set")
	if !r.Empty() {
		b.Child("", "first")
		if r.HasFirstIndex {
			b.Attr("index", strconv.Itoa(r.FirstIndex))
			if r.Exact {
				b.Attr("exact-index", "true")
			}
		}
		b.Text(r.First).End()
		b.TextElement("last", r.Last)
	}
	if r.HasCount {
		b.Child("", "count")
		if r.Exact {
			b.Attr("exact", "true")
		}
		b.Text(strconv.Itoa(r.Count)).End()
	}
	return b.Element()
}

// wireSet is every child <set/> may have (raw text, still to check);
// repeated children are kept so that they can be refused.
type wireSet struct {
	Max, After, Before, Index, Last []string
	First                           []wireFirst
	Count                           []wireCount
}

type wireFirst struct {
	Index      *string
	ExactIndex string
	UID        string
}

type wireCount struct {
	Exact string
	N     string
}

func badRequest(msg string) *stanza.Error {
	return stanza.NewError(stanza.BadRequest, "rsm: "+msg)
}

// parseSet reads a <set/> with the scanner; raw is the element on its own
// (it declares its namespace, or inherits defaultNS).
func parseSet(raw, defaultNS string) (*wireSet, error) {
	n, err := elem.Parse(raw, defaultNS)
	if err != nil {
		return nil, badRequest("unreadable <set/>: " + err.Error())
	}
	if n.Space != NS || n.Local != "set" {
		return nil, badRequest("not a <set xmlns='" + NS + "'/> element")
	}
	var w wireSet
	for _, k := range n.Kids {
		if k.Space != NS {
			continue // an extension in another namespace
		}
		c, err := n.Child(k)
		if err != nil {
			return nil, badRequest("unreadable <" + k.Local + "/>")
		}
		text, err := c.Text()
		if err != nil {
			return nil, badRequest("unreadable <" + k.Local + "/>")
		}
		switch k.Local {
		case "max":
			w.Max = append(w.Max, text)
		case "after":
			w.After = append(w.After, text)
		case "before":
			w.Before = append(w.Before, text)
		case "index":
			w.Index = append(w.Index, text)
		case "last":
			w.Last = append(w.Last, text)
		case "first":
			f := wireFirst{UID: text}
			if v, ok, err := c.Attr("index"); err != nil {
				return nil, badRequest("unreadable <first/>")
			} else if ok {
				f.Index = &v
			}
			f.ExactIndex, _, _ = c.Attr("exact-index")
			w.First = append(w.First, f)
		case "count":
			e, _, _ := c.Attr("exact")
			w.Count = append(w.Count, wireCount{Exact: e, N: text})
		}
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	return &w, nil
}

// check refuses repeated children (XEP-0059 §7: each at most once).
func (w *wireSet) check() error {
	for _, n := range []struct {
		name string
		k    int
	}{{"max", len(w.Max)}, {"after", len(w.After)}, {"before", len(w.Before)}, {"index", len(w.Index)},
		{"first", len(w.First)}, {"last", len(w.Last)}, {"count", len(w.Count)}} {
		if n.k > 1 {
			return badRequest("more than one <" + n.name + "/>")
		}
	}
	return nil
}

// number parses a non-negative xs:int (surrounding whitespace allowed).
func number(what, s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return 0, badRequest("<" + what + "/> is not a non-negative integer")
	}
	return int(n), nil
}

// ParseQuery decodes a <set/> element of a request (XEP-0059 §2) from its
// raw XML and validates it (Query.Validate). An empty <after/> counts as
// absent. Response children (first, last, count) are ignored. Every error
// is a *stanza.Error with condition bad-request.
func ParseQuery(raw string) (Query, error) {
	w, err := parseSet(raw, "")
	if err != nil {
		return Query{}, err
	}
	return w.query()
}

func (w *wireSet) query() (Query, error) {
	var q Query
	var err error
	if len(w.Max) == 1 {
		if q.Max, err = number("max", w.Max[0]); err != nil {
			return Query{}, err
		}
		q.HasMax = true
	}
	if len(w.After) == 1 {
		q.After = w.After[0]
	}
	if len(w.Before) == 1 {
		q.Before, q.HasBefore = w.Before[0], true
	}
	if len(w.Index) == 1 {
		if q.Index, err = number("index", w.Index[0]); err != nil {
			return Query{}, err
		}
		q.HasIndex = true
	}
	if err := q.Validate(); err != nil {
		return Query{}, err
	}
	return q, nil
}

// FindQuery looks for a <set xmlns='http://jabber.org/protocol/rsm'/> among
// the direct children of a request's payload element (a disco#items or MAM
// <query/>, a pubsub <pubsub/>) and decodes it with ParseQuery. found is
// false, and q the zero Query, when there is none.
func FindQuery(payload stanza.Element) (q Query, found bool, err error) {
	w, err := findSet(payload)
	if w == nil || err != nil {
		return Query{}, err != nil, err
	}
	q, err = w.query()
	return q, true, err
}

// findSet returns the one RSM <set/> among the direct children of payload,
// nil if there is none.
func findSet(payload stanza.Element) (*wireSet, error) {
	n, err := elem.Parse(payload.XML(), stanza.NSClient)
	if err != nil {
		return nil, badRequest("unreadable payload: " + err.Error())
	}
	var found *wireSet
	for _, k := range n.Kids {
		if k.Space != NS || k.Local != "set" {
			continue
		}
		if found != nil {
			return nil, badRequest("more than one <set/>")
		}
		if found, err = parseSet(k.Raw, n.Space); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// ParseResult decodes the <set/> element of a response (XEP-0059 §2.2)
// from its raw XML. Request children (max, after, before, index) are
// ignored. Errors are *stanza.Error values with condition bad-request.
func ParseResult(raw string) (Result, error) {
	w, err := parseSet(raw, "")
	if err != nil {
		return Result{}, err
	}
	return w.result()
}

func (w *wireSet) result() (Result, error) {
	var r Result
	if len(w.First) == 1 {
		f := w.First[0]
		r.First = f.UID
		if f.Index != nil {
			n, err := number("first index", *f.Index)
			if err != nil {
				return Result{}, err
			}
			r.FirstIndex, r.HasFirstIndex = n, true
		}
		r.Exact = f.ExactIndex == "true" || f.ExactIndex == "1"
	}
	if len(w.Last) == 1 {
		r.Last = w.Last[0]
	}
	if (r.First == "") != (r.Last == "") {
		return Result{}, badRequest("<first/> without <last/> or the reverse")
	}
	if len(w.Count) == 1 {
		n, err := number("count", w.Count[0].N)
		if err != nil {
			return Result{}, err
		}
		r.Count, r.HasCount = n, true
		r.Exact = r.Exact || w.Count[0].Exact == "true" || w.Count[0].Exact == "1"
	}
	return r, nil
}

// FindResult looks for a <set/> among the direct children of a response's
// payload element (a <fin/>, a disco#items <query/>) and decodes it with
// ParseResult; found is false when there is none.
func FindResult(payload stanza.Element) (r Result, found bool, err error) {
	w, err := findSet(payload)
	if w == nil || err != nil {
		return Result{}, err != nil, err
	}
	r, err = w.result()
	return r, true, err
}
