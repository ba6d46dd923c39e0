// Package forward wraps a stanza in an envelope element and takes it out
// again, for the protocols that carry whole stanzas inside another: the
// XEP-0297 <forwarded/> element inside XEP-0355's <delegation/> and
// XEP-0356's <privilege/>, and XEP-0356 v0.4's <privileged_iq/>, which holds
// the stanza directly.
//
// Envelopes are read with the scanner (each nested level is one scan of its
// bytes), so that the carried stanza is decoded by package stanza exactly as
// one read from a stream: the same checks, the same errors.
package forward

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"xmppkit.dev/internal/xmlscan"
	"xmppkit.dev/stanza"
)

// NS is the namespace of XEP-0297 Stanza Forwarding.
const NS = "urn:xmpp:forward:0"

// NSDelay is the namespace of XEP-0203 Delayed Delivery, the one sibling
// XEP-0297 §3 allows next to the forwarded stanza.
const NSDelay = "urn:xmpp:delay"

// Error is why an envelope could not be read. It names the element at
// fault; callers answer it with bad-request.
type Error struct {
	Reason string
	Err    error // the scanner's or the stanza decoder's error, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "forward: " + e.Reason + ": " + e.Err.Error()
	}
	return "forward: " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(err error, format string, args ...any) *Error {
	return &Error{Reason: fmt.Sprintf(format, args...), Err: err}
}

// child is one direct child element found in a scanned element.
type child struct {
	space, local string
	raw          string
}

type scanner struct {
	r  strings.Reader
	sc *xmlscan.Scanner
}

var pool = sync.Pool{New: func() any {
	s := &scanner{}
	s.sc = xmlscan.New(&s.r, xmlscan.Options{Fragment: true, DefaultNS: stanza.NSClient})
	return s
}}

// children scans raw, one element, and returns its namespace, local name
// and direct children. Text between children is ignored.
func children(raw string) (space, local string, kids []child, err error) {
	raw = strings.TrimSpace(raw)
	s := pool.Get().(*scanner)
	defer pool.Put(s)
	s.r.Reset(raw)
	s.sc.Reset(&s.r)
	tok, err := s.sc.Next()
	if err != nil {
		return "", "", nil, err
	}
	if tok.Kind != xmlscan.KindElement {
		return "", "", nil, errors.New("not an element")
	}
	if string(tok.Raw) != raw {
		return "", "", nil, errors.New("more than one element")
	}
	space, local = string(tok.Start.Space), string(tok.Start.Local)
	for _, c := range tok.Children {
		kids = append(kids, child{space: string(c.Space), local: string(c.Local), raw: raw[c.Off:c.End]})
	}
	return space, local, kids, nil
}

// Unwrap returns the stanza forwarded in envelope, an element such as
// <delegation xmlns='urn:xmpp:delegation:2'> whose only child is a
// XEP-0297 <forwarded/> (§3) holding one message, presence or iq in a
// content namespace, optionally after a XEP-0203 <delay/>. The stanza is
// decoded as from a stream: one that breaks RFC 6120 §8 is returned with
// its *stanza.Error (as stanza.Decode does); anything else wrong is an
// *Error.
func Unwrap(envelope string) (*stanza.Stanza, error) {
	_, name, kids, err := children(envelope)
	if err != nil {
		return nil, errorf(err, "unreadable envelope")
	}
	if len(kids) != 1 || kids[0].space != NS || kids[0].local != "forwarded" {
		return nil, errorf(nil, "<%s/> must hold exactly one <forwarded xmlns='%s'/>", name, NS)
	}
	_, _, inner, err := children(kids[0].raw)
	if err != nil {
		return nil, errorf(err, "unreadable <forwarded/>")
	}
	return onlyStanza("forwarded", inner, true)
}

// UnwrapDirect returns the stanza that envelope holds as its only child,
// without a <forwarded/> element between them (XEP-0356 v0.4
// <privileged_iq/>). Errors are as for Unwrap.
func UnwrapDirect(envelope string) (*stanza.Stanza, error) {
	_, name, kids, err := children(envelope)
	if err != nil {
		return nil, errorf(err, "unreadable envelope")
	}
	return onlyStanza(name, kids, false)
}

// onlyStanza decodes the one stanza among kids (a <delay/> allowed beside
// it when delay is true).
func onlyStanza(parent string, kids []child, delay bool) (*stanza.Stanza, error) {
	var found *child
	for i := range kids {
		k := &kids[i]
		switch {
		case delay && k.space == NSDelay && k.local == "delay":
		case stanza.IsContentNS(k.space) && (k.local == "message" || k.local == "presence" || k.local == "iq"):
			if found != nil {
				return nil, errorf(nil, "<%s/> holds more than one stanza", parent)
			}
			found = k
		default:
			return nil, errorf(nil, "unexpected <%s xmlns='%s'/> in <%s/>", k.local, k.space, parent)
		}
	}
	if found == nil {
		return nil, errorf(nil, "<%s/> holds no stanza in jabber:client", parent)
	}
	st, err := stanza.Decode([]byte(found.raw))
	if st == nil {
		return nil, errorf(err, "unreadable forwarded stanza")
	}
	return st, err
}

// Element returns st as an element written in jabber:client, with its
// xmlns, to be put inside an envelope (XEP-0297 §3 requires the namespace
// of the forwarded stanza to be explicit).
func Element(st *stanza.Stanza) stanza.Element {
	c := st.Clone()
	c.NS = stanza.NSClient
	e, err := stanza.ParseElement(c.String())
	if err != nil {
		// A Stanza always encodes to one well-formed element.
		panic("forward: stanza does not encode to an element: " + err.Error())
	}
	return e
}

// Wrap returns <local xmlns='space'><forwarded xmlns='urn:xmpp:forward:0'>
// st </forwarded></local>, with st in jabber:client: the envelope of
// XEP-0355 §4.3 and XEP-0356 §5.3.
func Wrap(space, local string, st *stanza.Stanza) stanza.Element {
	return stanza.NewBuilder(space, local).Child(NS, "forwarded").Append(Element(st)).Element()
}

// WrapDirect returns <local xmlns='space'> st </local>, with st in
// jabber:client (XEP-0356 v0.4 <privileged_iq/>).
func WrapDirect(space, local string, st *stanza.Stanza) stanza.Element {
	return stanza.NewBuilder(space, local).Append(Element(st)).Element()
}
