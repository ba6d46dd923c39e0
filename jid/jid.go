package jid

import (
	"encoding/xml"
	"strconv"
)

// JID is an XMPP address (RFC 7622): [ localpart "@" ] domainpart [ "/" resourcepart ].
//
// A JID is a value: it holds one canonical string and two offsets into it, no
// pointers into mutable memory, so JIDs compare with == and work as map keys.
// Because every part is stored in its prepared (canonical) form, == is the
// comparison RFC 7622 §3 asks for. The zero JID means "no address".
type JID struct {
	s      string // canonical form; "" for the zero JID
	dstart uint16 // start of the domainpart: 0, or len(localpart)+1
	dend   uint16 // end of the domainpart: len(s), or the index of '/'
}

// Parts are at most 1023 bytes (RFC 7622 §3.2-§3.4), so a whole JID is at
// most 3*1023+2 bytes and every offset fits in a uint16.
const maxPart = 1023

// Local returns the localpart (RFC 7622 §3.3), or "" if there is none.
func (j JID) Local() string {
	if j.dstart == 0 {
		return ""
	}
	return j.s[:j.dstart-1]
}

// Domain returns the domainpart (RFC 7622 §3.2) as a string: an IDNA2008
// domain name in U-label form, or an IP literal. See [JID.DomainJID] for the
// domain as an address.
func (j JID) Domain() string {
	return j.s[j.dstart:j.dend]
}

// Resource returns the resourcepart (RFC 7622 §3.4), or "" if there is none.
func (j JID) Resource() string {
	if int(j.dend) >= len(j.s) {
		return ""
	}
	return j.s[j.dend+1:]
}

// Bare returns the JID without its resourcepart ("bare JID", RFC 7622 §3.1
// and RFC 6120 §1.4). It does not allocate.
func (j JID) Bare() JID {
	return JID{s: j.s[:j.dend], dstart: j.dstart, dend: j.dend}
}

// DomainJID returns the address made of the domainpart alone, e.g. the
// service a user's account lives on. It does not allocate.
func (j JID) DomainJID() JID {
	d := j.s[j.dstart:j.dend]
	return JID{s: d, dend: uint16(len(d))}
}

// WithResource returns the bare JID with the resourcepart r, prepared with
// the OpaqueString profile (RFC 7622 §3.4). An empty r gives the bare JID.
// It is an error to call it on the zero JID.
func (j JID) WithResource(r string) (JID, error) {
	if j.IsZero() {
		return JID{}, partErr(PartDomain, ErrEmptyDomain)
	}
	if r == "" {
		return j.Bare(), nil
	}
	pr, err := prepResource(r, false)
	if err != nil {
		return JID{}, err
	}
	if j.Resource() == pr {
		return j, nil
	}
	return JID{s: j.s[:j.dend] + "/" + pr, dstart: j.dstart, dend: j.dend}, nil
}

// String returns the canonical text form of the JID (RFC 7622 §3.1), or ""
// for the zero JID. Parse(j.String()) returns j.
func (j JID) String() string { return j.s }

// Equal reports whether j and k are the same address. It is the same as
// j == k, and is provided for readability and for generic code.
func (j JID) Equal(k JID) bool { return j == k }

// IsZero reports whether j is the zero JID ("no address").
func (j JID) IsZero() bool { return j.s == "" }

// IsBare reports whether j is a valid address without a resourcepart. The
// zero JID is not bare.
func (j JID) IsBare() bool { return j.s != "" && int(j.dend) == len(j.s) }

// GoString returns a Go expression for j, for %#v.
func (j JID) GoString() string {
	if j.IsZero() {
		return "jid.JID{}"
	}
	return "jid.MustParse(" + strconv.Quote(j.s) + ")"
}

// MarshalText implements encoding.TextMarshaler: the canonical form, or no
// text for the zero JID.
func (j JID) MarshalText() ([]byte, error) {
	return []byte(j.s), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [Parse]. Empty text
// gives the zero JID.
func (j *JID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*j = JID{}
		return nil
	}
	p, err := ParseBytes(b)
	if err != nil {
		return err
	}
	*j = p
	return nil
}

// MarshalXMLAttr implements xml.MarshalerAttr. The zero JID produces no
// attribute, so an unset 'to' or 'from' is omitted.
func (j JID) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	if j.IsZero() {
		return xml.Attr{}, nil
	}
	return xml.Attr{Name: name, Value: j.s}, nil
}

// UnmarshalXMLAttr implements xml.UnmarshalerAttr with [Parse]. An empty
// value gives the zero JID.
func (j *JID) UnmarshalXMLAttr(attr xml.Attr) error {
	if attr.Value == "" {
		*j = JID{}
		return nil
	}
	p, err := Parse(attr.Value)
	if err != nil {
		return err
	}
	*j = p
	return nil
}
