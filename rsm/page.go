package rsm

import (
	"errors"
	"slices"

	"xmppkit.dev/stanza"
)

// ErrUnknownUID is what a Source returns when an after or before UID names
// no item and the position it stood at is not known (XEP-0059 §2.4).
// Paginate turns it into item-not-found.
var ErrUnknownUID = errors.New("rsm: no item with that UID")

// Source is an ordered result set, as a service holds it, for Paginate. The
// order must not depend on the request: it is the order pages come in.
//
// UIDs are unique within the set and stable: an item keeps its UID while it
// is in the set, and a removed item's UID is not given to another (§2.2).
type Source[T any] interface {
	// Forward returns up to n items that follow the item whose UID is
	// after, in order; after "" means from the start of the set. n may be
	// 0: then only after is checked. It returns ErrUnknownUID when no item
	// has the UID after and its position cannot be derived.
	Forward(after string, n int) ([]T, error)
	// Backward returns up to n items that precede the item whose UID is
	// before, in the set's order (the last of them immediately precedes
	// before); before "" means up to the end of the set. Errors as for
	// Forward.
	Backward(before string, n int) ([]T, error)
	// Count returns the number of items in the set, or -1 when it is not
	// known without great cost (§2.2 allows leaving the count out only
	// then).
	Count() int
	// UID returns the UID of an item.
	UID(item T) string
}

// Indexed is a Source that knows positions, for requests by index (§2.6)
// and for the index of a page's first item in every answer (§2.2).
type Indexed[T any] interface {
	Source[T]
	// At returns up to n items starting at position i (0 is the first);
	// none when i is at or past the end.
	At(i, n int) ([]T, error)
	// Position returns the position of the item with the UID.
	Position(uid string) (int, bool)
}

// Page is one page of a result set, as Paginate cut it.
type Page[T any] struct {
	// Items are the page's items, in the set's order.
	Items []T
	// Result is the <set/> to send with them.
	Result Result
	// Complete reports that no item lies beyond the page in the direction
	// of paging: after its last item when paging forwards or by index,
	// before its first when paging backwards. XEP-0313 §4.3.2 sends it as
	// <fin complete='true'/>.
	Complete bool
}

// Paginate answers the request q from src with pages of at most limit
// items (the service's own limit, which caps q.Max, and the page size when
// q has no <max/>; a limit of 0 or less means 100). See the package
// documentation for the rules it applies.
//
// Its errors are *stanza.Error values for the requester (bad-request for an
// invalid q, item-not-found for an unknown UID, feature-not-implemented
// for an index on a Source that is not Indexed) or the error src returned.
func Paginate[T any](src Source[T], q Query, limit int) (Page[T], error) {
	if err := q.Validate(); err != nil {
		return Page[T]{}, err
	}
	if limit <= 0 {
		limit = 100
	}
	n := limit
	if q.HasMax && q.Max < n {
		n = q.Max
	}
	count := src.Count()
	ix, indexed := src.(Indexed[T])

	// One item more than the page holds tells whether the page is the
	// last one in the direction of paging.
	fetch := n + 1
	if n == 0 {
		fetch = 0
	}
	var p Page[T]
	var err error
	var more bool
	first := -1 // position of the page's first item, when known
	switch {
	case q.HasIndex:
		if !indexed {
			return Page[T]{}, stanza.NewError(stanza.FeatureNotImplemented, "rsm: no paging by index here")
		}
		if p.Items, err = ix.At(q.Index, fetch); err != nil {
			return Page[T]{}, err
		}
		p.Items, more = head(p.Items, n)
		first = q.Index
	case q.HasBefore:
		if p.Items, err = src.Backward(q.Before, fetch); err != nil {
			return Page[T]{}, sourceErr(err, "before")
		}
		p.Items, more = tail(p.Items, n)
		if q.Before == "" && count >= 0 {
			first = count - len(p.Items)
		}
	default:
		if p.Items, err = src.Forward(q.After, fetch); err != nil {
			return Page[T]{}, sourceErr(err, "after")
		}
		p.Items, more = head(p.Items, n)
		if q.After == "" {
			first = 0
		}
	}
	if n == 0 {
		// A count request: the set goes on if it has anything at all.
		p.Items, more = nil, count != 0
	}
	p.Complete = !more
	if count >= 0 {
		p.Result.Count, p.Result.HasCount, p.Result.Exact = count, true, true
	}
	if len(p.Items) == 0 {
		return p, nil
	}
	p.Result.First = src.UID(p.Items[0])
	p.Result.Last = src.UID(p.Items[len(p.Items)-1])
	if first < 0 && indexed {
		if i, ok := ix.Position(p.Result.First); ok {
			first = i
		}
	}
	if first >= 0 {
		p.Result.FirstIndex, p.Result.HasFirstIndex = first, true
	}
	return p, nil
}

// head keeps the first n items and reports whether there were more.
func head[T any](items []T, n int) ([]T, bool) {
	if len(items) > n {
		return items[:n:n], true
	}
	return items, false
}

// tail keeps the last n items and reports whether there were more.
func tail[T any](items []T, n int) ([]T, bool) {
	if len(items) > n {
		return items[len(items)-n:], true
	}
	return items, false
}

func sourceErr(err error, which string) error {
	if errors.Is(err, ErrUnknownUID) {
		return stanza.NewError(stanza.ItemNotFound, "rsm: the <"+which+"/> UID names no item")
	}
	return err
}

// List is a Source over a slice held in memory. Build it with Slice or
// SortedSlice, or set the fields: Items in the order pages come in, Key
// giving each item's UID. A List must not change while a Paginate call uses
// it; build a new one per request from the current items (it costs nothing:
// no index is built).
type List[T any] struct {
	Items []T
	Key   func(T) string
	// Sorted says Items are sorted by Key in ascending byte order, with no
	// two equal: UIDs are then found by binary search, and a UID that names
	// no item still gives the position where it would sort, so a page after
	// a deleted item continues with the next one (XEP-0059 §2.4). Without
	// Sorted, UIDs are found by a linear search and an unknown UID is
	// item-not-found.
	Sorted bool
	// Strict makes an unknown UID item-not-found on a Sorted list too.
	Strict bool
}

// Slice returns a List over items in their order, each with the UID
// uid(item).
func Slice[T any](items []T, uid func(T) string) *List[T] {
	return &List[T]{Items: items, Key: uid}
}

// SortedSlice returns a List over items sorted by key (ascending, unique),
// whose UID is the key itself: the natural choice for names such as pubsub
// node names or room names.
func SortedSlice[T any](items []T, key func(T) string) *List[T] {
	return &List[T]{Items: items, Key: key, Sorted: true}
}

var _ Indexed[int] = (*List[int])(nil)

// find returns the position of uid and whether an item has it; for an
// unknown UID on a sorted list, the position where it would be inserted.
func (l *List[T]) find(uid string) (int, bool) {
	if l.Sorted {
		return slices.BinarySearchFunc(l.Items, uid, func(it T, u string) int {
			k := l.Key(it)
			switch {
			case k < u:
				return -1
			case k > u:
				return 1
			}
			return 0
		})
	}
	for i, it := range l.Items {
		if l.Key(it) == uid {
			return i, true
		}
	}
	return -1, false
}

// Forward implements Source.
func (l *List[T]) Forward(after string, n int) ([]T, error) {
	start := 0
	if after != "" {
		i, ok := l.find(after)
		switch {
		case ok:
			start = i + 1
		case l.Sorted && !l.Strict:
			start = i
		default:
			return nil, ErrUnknownUID
		}
	}
	end := min(len(l.Items), start+n)
	return l.Items[start:end:end], nil
}

// Backward implements Source.
func (l *List[T]) Backward(before string, n int) ([]T, error) {
	end := len(l.Items)
	if before != "" {
		i, ok := l.find(before)
		if !ok && (!l.Sorted || l.Strict) {
			return nil, ErrUnknownUID
		}
		end = i
	}
	start := max(0, end-n)
	return l.Items[start:end:end], nil
}

// Count implements Source.
func (l *List[T]) Count() int { return len(l.Items) }

// UID implements Source.
func (l *List[T]) UID(item T) string { return l.Key(item) }

// At implements Indexed.
func (l *List[T]) At(i, n int) ([]T, error) {
	if i >= len(l.Items) {
		return nil, nil
	}
	end := min(len(l.Items), i+n)
	return l.Items[i:end:end], nil
}

// Position implements Indexed.
func (l *List[T]) Position(uid string) (int, bool) {
	i, ok := l.find(uid)
	if !ok {
		return -1, false
	}
	return i, true
}
