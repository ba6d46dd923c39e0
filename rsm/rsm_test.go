package rsm

import (
	"errors"
	"strings"
	"testing"

	"xmppkit.dev/stanza"
)

func TestParseQuery(t *testing.T) {
	const ns = " xmlns='" + NS + "'"
	for _, tc := range []struct {
		name string
		raw  string
		want Query
		err  string // substring of the bad-request text; "" for success
	}{
		{"empty", `<set` + ns + `/>`, Query{}, ""},
		{"limit §2.1", `<set` + ns + `><max>10</max></set>`, First(10), ""},
		{"next §2.2", `<set` + ns + `><max>10</max><after>peterpan@neverland.lit</after></set>`, Next(10, "peterpan@neverland.lit"), ""},
		{"prev §2.3", `<set` + ns + `><max>10</max><before>peter@pixyland.org</before></set>`, Prev(10, "peter@pixyland.org"), ""},
		{"last page §2.5", `<set` + ns + `><max>10</max><before/></set>`, Last(10), ""},
		{"index §2.6", `<set` + ns + `><max>10</max><index>371</index></set>`, AtIndex(10, 371), ""},
		{"count §2.7", `<set` + ns + `><max>0</max></set>`, CountOnly(), ""},
		{"spaces around numbers", "<set" + ns + "><max> 5\n</max></set>", First(5), ""},
		{"escaped UID", `<set` + ns + `><after>a&amp;b&lt;c</after></set>`, Query{After: "a&b<c"}, ""},
		{"empty after is absent", `<set` + ns + `><max>3</max><after/></set>`, First(3), ""},
		{"prefixed", `<r:set xmlns:r='` + NS + `'><r:max>2</r:max></r:set>`, First(2), ""},
		{"response children ignored", `<set` + ns + `><first index='0'>a</first><last>b</last><count>3</count></set>`, Query{}, ""},
		{"negative max", `<set` + ns + `><max>-1</max></set>`, Query{}, "not a non-negative integer"},
		{"max not a number", `<set` + ns + `><max>ten</max></set>`, Query{}, "not a non-negative integer"},
		{"max overflow", `<set` + ns + `><max>99999999999</max></set>`, Query{}, "not a non-negative integer"},
		{"negative index", `<set` + ns + `><index>-3</index></set>`, Query{}, "not a non-negative integer"},
		{"two max", `<set` + ns + `><max>1</max><max>2</max></set>`, Query{}, "more than one <max/>"},
		{"after and before", `<set` + ns + `><after>a</after><before>b</before></set>`, Query{}, "both <after/> and <before/>"},
		{"index and after", `<set` + ns + `><after>a</after><index>2</index></set>`, Query{}, "<index/> with"},
		{"wrong namespace", `<set xmlns='urn:other'><max>1</max></set>`, Query{}, "not a <set"},
		{"wrong element", `<get` + ns + `/>`, Query{}, "not a <set"},
		{"not XML", `<set` + ns + `><max>`, Query{}, "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuery(tc.raw)
			if tc.err != "" {
				var se *stanza.Error
				if !errors.As(err, &se) || se.Condition != stanza.BadRequest || !strings.Contains(se.Text, tc.err) {
					t.Fatalf("ParseQuery(%s) = %+v, %v; want bad-request %q", tc.raw, q, err, tc.err)
				}
				return
			}
			if err != nil || q != tc.want {
				t.Fatalf("ParseQuery(%s) = %+v, %v; want %+v", tc.raw, q, err, tc.want)
			}
		})
	}
}

func TestQueryElementRoundTrip(t *testing.T) {
	for _, q := range []Query{{}, First(10), Next(5, "x<&'\"y"), Prev(7, "p"), Last(3), AtIndex(20, 40), CountOnly()} {
		el := q.Element()
		if el.Space != NS || el.Local != "set" {
			t.Fatalf("%+v: element {%s}%s", q, el.Space, el.Local)
		}
		got, err := ParseQuery(el.XML())
		if err != nil || got != q {
			t.Errorf("%+v -> %s -> %+v, %v", q, el.XML(), got, err)
		}
	}
	if got := Last(10).Element().XML(); got != "<set xmlns='"+NS+"'><max>10</max><before/></set>" {
		t.Errorf("Last(10) = %s", got)
	}
}

func TestResultElement(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{First: "a", Last: "b", FirstIndex: 0, HasFirstIndex: true, Count: 800, HasCount: true, Exact: true},
			"<set xmlns='" + NS + "'><first index='0' exact-index='true'>a</first><last>b</last><count exact='true'>800</count></set>"},
		{Result{First: "a", Last: "a"}, "<set xmlns='" + NS + "'><first>a</first><last>a</last></set>"},
		{Result{Count: 790, HasCount: true}, "<set xmlns='" + NS + "'><count>790</count></set>"},
		{Result{}, "<set xmlns='" + NS + "'/>"},
		{Result{First: "<x>", Last: "&", FirstIndex: 10, HasFirstIndex: true},
			"<set xmlns='" + NS + "'><first index='10'>&lt;x&gt;</first><last>&amp;</last></set>"},
	} {
		el := tc.r.Element()
		if el.XML() != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.r, el.XML(), tc.want)
		}
		back, err := ParseResult(el.XML())
		if err != nil || back != tc.r {
			t.Errorf("round trip of %+v: %+v, %v", tc.r, back, err)
		}
	}
}

func TestParseResultErrors(t *testing.T) {
	const ns = " xmlns='" + NS + "'"
	for _, raw := range []string{
		`<set` + ns + `><first>a</first></set>`,
		`<set` + ns + `><last>a</last></set>`,
		`<set` + ns + `><first index='x'>a</first><last>b</last></set>`,
		`<set` + ns + `><count>-2</count></set>`,
		`<set` + ns + `><count>1</count><count>2</count></set>`,
		`<set xmlns='urn:nope'/>`,
	} {
		if r, err := ParseResult(raw); !errors.Is(err, stanza.ErrBadRequest) {
			t.Errorf("ParseResult(%s) = %+v, %v; want bad-request", raw, r, err)
		}
	}
}

func TestFind(t *testing.T) {
	disco := stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#items' node='n'><set xmlns='` + NS + `'><max>20</max><after>x</after></set></query>`)
	q, found, err := FindQuery(disco)
	if err != nil || !found || q != Next(20, "x") {
		t.Fatalf("FindQuery = %+v, %v, %v", q, found, err)
	}
	plain := stanza.MustElement(`<query xmlns='http://jabber.org/protocol/disco#items'/>`)
	if q, found, err := FindQuery(plain); err != nil || found || !q.IsZero() {
		t.Fatalf("FindQuery without set = %+v, %v, %v", q, found, err)
	}
	bad := stanza.MustElement(`<query xmlns='urn:x'><set xmlns='` + NS + `'><max>1</max><max>2</max></set></query>`)
	if _, found, err := FindQuery(bad); !found || !errors.Is(err, stanza.ErrBadRequest) {
		t.Fatalf("FindQuery with two max = %v, %v", found, err)
	}
	two := stanza.MustElement(`<query xmlns='urn:x'><set xmlns='` + NS + `'/><set xmlns='` + NS + `'/></query>`)
	if _, _, err := FindQuery(two); !errors.Is(err, stanza.ErrBadRequest) {
		t.Fatalf("FindQuery with two sets = %v", err)
	}
	// A <set/> in another namespace is not RSM.
	other := stanza.MustElement(`<query xmlns='urn:x'><set xmlns='urn:y'><max>1</max></set></query>`)
	if _, found, err := FindQuery(other); found || err != nil {
		t.Fatalf("FindQuery with a foreign set = %v, %v", found, err)
	}
	fin := stanza.MustElement(`<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='` + NS + `'><first index='0'>a</first><last>b</last><count>2</count></set></fin>`)
	r, found, err := FindResult(fin)
	if err != nil || !found || r != (Result{First: "a", Last: "b", HasFirstIndex: true, Count: 2, HasCount: true}) {
		t.Fatalf("FindResult = %+v, %v, %v", r, found, err)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`<set xmlns='` + NS + `'><max>10</max><after>x</after></set>`,
		`<set xmlns='` + NS + `'><max>10</max><before/></set>`,
		`<set xmlns='` + NS + `'><index>3</index><max>0</max></set>`,
		`<set xmlns='` + NS + `'><first index='0'>a</first><last>b</last><count exact='true'>2</count></set>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw)
		if err != nil {
			if !errors.Is(err, stanza.ErrBadRequest) {
				t.Fatalf("error %v is not bad-request", err)
			}
		} else {
			if err := q.Validate(); err != nil {
				t.Fatalf("parsed query %+v does not validate: %v", q, err)
			}
			// What parses re-encodes to the same query.
			back, err := ParseQuery(q.Element().XML())
			if err != nil || back != q {
				t.Fatalf("round trip of %+v: %+v, %v", q, back, err)
			}
		}
		r, err := ParseResult(raw)
		if err != nil {
			if !errors.Is(err, stanza.ErrBadRequest) {
				t.Fatalf("error %v is not bad-request", err)
			}
			return
		}
		back, err := ParseResult(r.Element().XML())
		if err != nil {
			t.Fatalf("result %+v does not re-parse: %v", r, err)
		}
		if r.Empty() {
			// An empty page's index has no item to belong to.
			r.FirstIndex, r.HasFirstIndex = 0, false
			if !r.HasCount {
				r.Exact = false
			}
		}
		if back != r {
			t.Fatalf("round trip of %+v: %+v", r, back)
		}
	})
}

func FuzzFindQuery(f *testing.F) {
	f.Add(`<query xmlns='http://jabber.org/protocol/disco#items'><set xmlns='` + NS + `'><max>20</max></set></query>`)
	f.Add(`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'/><set xmlns='` + NS + `'><before/></set></query>`)
	f.Fuzz(func(t *testing.T, raw string) {
		el, err := stanza.ParseElement(raw)
		if err != nil {
			return
		}
		q, found, err := FindQuery(el)
		if err != nil {
			if !errors.Is(err, stanza.ErrBadRequest) {
				t.Fatalf("error %v is not bad-request", err)
			}
			return
		}
		if !found && !q.IsZero() {
			t.Fatalf("not found but %+v", q)
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("found query %+v does not validate: %v", q, err)
		}
		_, _, _ = FindResult(el)
	})
}
