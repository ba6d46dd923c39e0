// Package stanzabridge lets package stream decode a stanza from the scanner
// token it already holds, without scanning the element twice and without
// package stanza exporting a function that takes an internal type.
//
// Package stanza sets DecodeStanza in its init function; any package that
// imports stanza may call it.
package stanzabridge

import "xmppkit.dev/internal/xmlscan"

// DecodeStanza decodes an element token into a *stanza.Stanza (returned as
// any to avoid an import cycle). It is set by package stanza. The result is
// nil exactly when the element is not a stanza or cannot be read; a stanza
// that breaks RFC 6120 §8 comes with a *stanza.Error.
var DecodeStanza func(tok *xmlscan.Token) (any, error)
