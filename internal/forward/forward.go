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

	"xmppkit.dev/internal/wire"
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

// Error returns the reason, with the underlying error if any.
func (e *Error) Error() string {
	if e.Err != nil {
		return "forward: " + e.Reason + ": " + e.Err.Error()
	}
	return "forward: " + e.Reason
}

// Unwrap returns the scanner's or the decoder's error.
func (e *Error) Unwrap() error { return e.Err }

func errorf(err error, format string, args ...any) *Error {
	return &Error{Reason: fmt.Sprintf(format, args...), Err: err}
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

// scan reads raw as exactly one element and returns its token, valid until
// the scanner goes back to the pool (put it back with pool.Put). Children
// offsets index raw itself.
func scan(raw string) (*scanner, *xmlscan.Token, error) {
	s := pool.Get().(*scanner)
	s.r.Reset(raw)
	s.sc.Reset(&s.r)
	tok, err := s.sc.Next()
	switch {
	case err != nil:
	case tok.Kind != xmlscan.KindElement:
		err = errors.New("not an element")
	case string(tok.Raw) != raw:
		err = errors.New("more than one element")
	}
	if err != nil {
		pool.Put(s)
		return nil, nil, err
	}
	return s, tok, nil
}

func is(b []byte, s string) bool { return string(b) == s }

// Unwrap returns the stanza forwarded in envelope, an element such as
// <delegation xmlns='urn:xmpp:delegation:2'> whose only child is a
// XEP-0297 <forwarded/> (§3) holding one message, presence or iq in a
// content namespace, optionally after a XEP-0203 <delay/>. The stanza is
// decoded as from a stream: one that breaks RFC 6120 §8 is returned with
// its *stanza.Error (as stanza.Decode does); anything else wrong is an
// *Error.
func Unwrap(envelope string) (*stanza.Stanza, error) {
	envelope = strings.TrimSpace(envelope)
	s, tok, err := scan(envelope)
	if err != nil {
		return nil, errorf(err, "unreadable envelope")
	}
	kids := tok.Children
	if len(kids) != 1 || !is(kids[0].Space, NS) || !is(kids[0].Local, "forwarded") {
		name := string(tok.Start.Local)
		pool.Put(s)
		return nil, errorf(nil, "<%s/> must hold exactly one <forwarded xmlns='%s'/>", name, NS)
	}
	fwd := envelope[kids[0].Off:kids[0].End]
	pool.Put(s)
	return onlyStanza(fwd, true)
}

// UnwrapDirect returns the stanza that envelope holds as its only child,
// without a <forwarded/> element between them (XEP-0356 v0.4
// <privileged_iq/>). Errors are as for Unwrap.
func UnwrapDirect(envelope string) (*stanza.Stanza, error) {
	return onlyStanza(strings.TrimSpace(envelope), false)
}

// onlyStanza decodes the one stanza among the children of parent (a
// <delay/> allowed beside it when delay is true).
func onlyStanza(parent string, delay bool) (*stanza.Stanza, error) {
	s, tok, err := scan(parent)
	if err != nil {
		return nil, errorf(err, "unreadable envelope")
	}
	name := func() string { return string(tok.Start.Local) }
	found := -1
	for i, k := range tok.Children {
		switch {
		case delay && is(k.Space, NSDelay) && is(k.Local, "delay"):
		case stanza.IsContentNS(string(k.Space)) && (is(k.Local, "message") || is(k.Local, "presence") || is(k.Local, "iq")):
			if found >= 0 {
				e := errorf(nil, "<%s/> holds more than one stanza", name())
				pool.Put(s)
				return nil, e
			}
			found = i
		default:
			e := errorf(nil, "unexpected <%s xmlns='%s'/> in <%s/>", k.Local, k.Space, name())
			pool.Put(s)
			return nil, e
		}
	}
	if found < 0 {
		e := errorf(nil, "<%s/> holds no stanza in jabber:client", name())
		pool.Put(s)
		return nil, e
	}
	raw := parent[tok.Children[found].Off:tok.Children[found].End]
	pool.Put(s)
	// The stanza's own scan: it is decoded from its token as from a
	// stream, without another copy of its bytes.
	s, tok, err = scan(raw)
	if err != nil {
		return nil, errorf(err, "unreadable forwarded stanza")
	}
	defer pool.Put(s)
	v, err := wire.DecodeStanza(tok)
	st, _ := v.(*stanza.Stanza)
	if st == nil {
		return nil, errorf(err, "unreadable forwarded stanza")
	}
	return st, err
}

// Element returns st as an element written in jabber:client, with its
// xmlns, to be put inside an envelope (XEP-0297 §3 requires the namespace
// of the forwarded stanza to be explicit).
func Element(st *stanza.Stanza) stanza.Element {
	// A shallow copy is enough: AppendXML only reads the shared index.
	c := *st
	c.NS = stanza.NSClient
	return c.AsElement()
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
