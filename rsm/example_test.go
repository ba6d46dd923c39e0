package rsm_test

import (
	"fmt"

	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

// A service answers a paged request from a sorted list of names: the
// request's <set/> comes from the payload, the answer's <set/> goes into
// the reply.
func Example() {
	rooms := []string{"ada", "bash", "cobol", "dart", "elixir", "forth", "go"}
	req := stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#items'>` +
		`<set xmlns='http://jabber.org/protocol/rsm'><max>3</max><after>cobol</after></set></query>`)

	q, _, err := rsm.FindQuery(req)
	if err != nil {
		panic(err) // a *stanza.Error (bad-request): return it from the handler
	}
	page, err := rsm.Paginate(rsm.SortedSlice(rooms, func(s string) string { return s }), q, 50)
	if err != nil {
		panic(err) // item-not-found, feature-not-implemented: return it likewise
	}
	b := stanza.NewBuilder("http://jabber.org/protocol/disco#items", "query")
	for _, r := range page.Items {
		b.Child("", "item").Attr("jid", r+"@rooms.example").End()
	}
	b.Append(page.Result.Element())
	fmt.Println(b.Element().XML())
	// Output:
	// <query xmlns='http://jabber.org/protocol/disco#items'><item jid='dart@rooms.example'/><item jid='elixir@rooms.example'/><item jid='forth@rooms.example'/><set xmlns='http://jabber.org/protocol/rsm'><first index='3' exact-index='true'>dart</first><last>forth</last><count exact='true'>7</count></set></query>
}

// A requester walks a result set page by page, each request starting after
// the last UID of the previous answer.
func ExampleNext() {
	items := []string{"m1", "m2", "m3", "m4", "m5"}
	src := rsm.Slice(items, func(s string) string { return s })
	q := rsm.First(2)
	for {
		page, err := rsm.Paginate(src, q, 50) // the responder's side
		if err != nil {
			panic(err)
		}
		fmt.Println(page.Items, page.Result.Count)
		if page.Complete {
			break
		}
		q = rsm.Next(2, page.Result.Last)
	}
	// Output:
	// [m1 m2] 5
	// [m3 m4] 5
	// [m5] 5
}

// The last page (§2.5) and a count (§2.7), as a requester writes them.
func ExampleLast() {
	fmt.Println(rsm.Last(10).Element().XML())
	fmt.Println(rsm.CountOnly().Element().XML())
	// Output:
	// <set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set>
	// <set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>
}
