// Package elem reads one XML element of a payload with the scanner of
// internal/xmlscan: its name and namespace, its attributes and its direct
// children, each child as the substring of the input that holds it, so a
// nested payload is walked one level at a time without encoding/xml and
// without copying. The protocol blocks (command, mam, rsm) parse their
// payloads with it.
package elem

import (
	"errors"
	"strings"
	"sync"
	"unsafe"

	"xmppkit.dev/internal/wire"
	"xmppkit.dev/internal/xmlscan"
)

// Node is an element as read by Parse. Its strings are substrings of the
// input.
type Node struct {
	Space, Local string
	Raw          string // the element, start tag to end tag
	Kids         []Kid  // direct children, in order
	attrs        []attr
	kidNS        string   // the default namespace in scope for the children
	decls        []string // prefix declarations of the start tag, as written (xmlns:p='...')
	kidBuf       [4]Kid
	attrBuf      [4]attr
}

// Kid is a direct child element.
type Kid struct {
	Space, Local string
	Raw          string
}

type attr struct {
	space, local string
	value        string // raw, still escaped
}

type scanner struct {
	r  strings.Reader
	sc *xmlscan.Scanner
	ns string
}

var pools sync.Map // default namespace -> *sync.Pool of *scanner

func pool(ns string) *sync.Pool {
	if p, ok := pools.Load(ns); ok {
		return p.(*sync.Pool)
	}
	p, _ := pools.LoadOrStore(ns, &sync.Pool{New: func() any {
		s := &scanner{ns: ns}
		s.sc = xmlscan.New(&s.r, xmlscan.Options{Fragment: true, DefaultNS: ns})
		return s
	}})
	return p.(*sync.Pool)
}

// NSXML is the namespace of the xml prefix, for AttrNS(NSXML, "lang").
const NSXML = xmlscan.NSXML

// ErrNotOne is returned for input that is not exactly one element.
var ErrNotOne = errors.New("elem: not exactly one element")

// Parse reads raw, exactly one element (surrounding whitespace allowed); an
// unprefixed name without xmlns is in defaultNS, as for a child read on its
// own whose parent is in defaultNS. Errors are the scanner's
// *xmlscan.Error or ErrNotOne.
func Parse(raw, defaultNS string) (*Node, error) {
	raw = strings.TrimSpace(raw)
	p := pool(defaultNS)
	s := p.Get().(*scanner)
	defer func() {
		s.r.Reset("")
		p.Put(s)
	}()
	s.r.Reset(raw)
	s.sc.Reset(&s.r)
	tok, err := s.sc.Next()
	if err != nil {
		return nil, err
	}
	if tok.Kind != xmlscan.KindElement || len(tok.Raw) != len(raw) {
		return nil, ErrNotOne
	}
	n := &Node{Raw: raw}
	n.Space = sub(raw, tok.Raw, tok.Start.Space)
	n.Local = sub(raw, tok.Raw, tok.Start.Local)
	n.attrs = n.attrBuf[:0]
	n.kidNS = defaultNS
	for _, a := range tok.Start.Attrs {
		if string(a.Space) == xmlscan.NSXMLNS {
			if len(a.Prefix) == 0 {
				n.kidNS = sub(raw, tok.Raw, a.Value) // xmlns='...' (escaped values are rare here)
			} else {
				q := "'" // the raw value holds at most one kind of quote
				if strings.IndexByte(string(a.Value), '\'') >= 0 {
					q = "\""
				}
				n.decls = append(n.decls, "xmlns:"+string(a.Local)+"="+q+string(a.Value)+q)
			}
			continue
		}
		n.attrs = append(n.attrs, attr{space: sub(raw, tok.Raw, a.Space), local: sub(raw, tok.Raw, a.Local), value: sub(raw, tok.Raw, a.Value)})
	}
	n.Kids = n.kidBuf[:0]
	for _, c := range tok.Children {
		n.Kids = append(n.Kids, Kid{Space: sub(raw, tok.Raw, c.Space), Local: sub(raw, tok.Raw, c.Local), Raw: raw[c.Off:c.End]})
	}
	return n, nil
}

// sub returns the substring of str (a copy of raw) that b (a slice of raw,
// or of the scanner's own memory for a resolved namespace) stands for.
func sub(str string, raw, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	o := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(raw))))
	if o < 0 || o > len(raw)-len(b) {
		return string(b) // not in raw (a namespace from the defaults)
	}
	return str[o : o+len(b)]
}

// Child parses k, one of n's Kids, in the namespace context of n: an
// unprefixed name inherits n's default namespace, and the prefixes
// declared on n's start tag stay bound (see Standalone).
func (n *Node) Child(k Kid) (*Node, error) {
	return Parse(n.Standalone(k), n.kidNS)
}

// Standalone returns k, one of n's Kids, as XML that stands on its own for
// its prefixes: the prefix declarations of n's start tag are declared again
// on k's start tag, unless k declares them itself. It is k.Raw, without
// allocating, when n declares no prefix. (An unprefixed name without xmlns
// still inherits n's default namespace: Child passes it on.)
func (n *Node) Standalone(k Kid) string {
	if len(n.decls) == 0 {
		return k.Raw
	}
	end := wire.TagEnd(k.Raw)
	if end < 0 {
		return k.Raw
	}
	tag := k.Raw[:end]
	name := strings.IndexAny(tag, " \t\r\n/")
	if name < 0 {
		name = end
	}
	var b strings.Builder
	b.WriteString(k.Raw[:name])
	for _, d := range n.decls {
		if !strings.Contains(tag, d[:strings.IndexByte(d, '=')+1]) {
			b.WriteByte(' ')
			b.WriteString(d)
		}
	}
	b.WriteString(k.Raw[name:])
	return b.String()
}

// Attr returns the unescaped value of the unprefixed attribute local.
func (n *Node) Attr(local string) (string, bool, error) {
	return n.AttrNS("", local)
}

// AttrNS returns the unescaped value of the attribute local in namespace
// space ("" for an unprefixed one; xmlscan.NSXML for xml:lang).
func (n *Node) AttrNS(space, local string) (string, bool, error) {
	for _, a := range n.attrs {
		if a.local == local && a.space == space {
			v, err := unescape(a.value, true)
			return v, true, err
		}
	}
	return "", false, nil
}

// Text returns the character data directly inside the element, unescaped,
// without that of its children.
func (n *Node) Text() (string, error) {
	inner, ok := wire.Inner(n.Raw)
	if !ok {
		return "", nil
	}
	if len(n.Kids) == 0 {
		return unescape(inner, false)
	}
	var b strings.Builder
	rest := inner
	for _, k := range n.Kids {
		i := strings.Index(rest, k.Raw)
		if i < 0 {
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i+len(k.Raw):]
	}
	b.WriteString(rest)
	return unescape(b.String(), false)
}

func unescape(s string, attr bool) (string, error) {
	// Fast path: nothing to replace (no reference, no CR, no CDATA, and in
	// an attribute no whitespace to normalize).
	if !strings.ContainsAny(s, "&\r<") && (!attr || !strings.ContainsAny(s, "\t\n")) {
		return s, nil
	}
	var out []byte
	var err error
	if attr {
		out, err = xmlscan.UnescapeAttr(nil, []byte(s))
	} else {
		out, err = xmlscan.Unescape(nil, []byte(s))
	}
	return string(out), err
}
