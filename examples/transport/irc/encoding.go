package irc

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
)

// Legacy IRC text encodings. IRC carries bytes; most servers and clients
// send UTF-8 today, but older channels still speak ISO-8859-x, Windows code
// pages, KOI8-R or Shift_JIS. Names are the WHATWG labels
// ("windows-1252", "iso-8859-15", "koi8-r", "shift_jis", ...).

// KnownEncoding reports whether name is an encoding Decode and Encode know
// ("" and "utf-8" included).
func KnownEncoding(name string) bool {
	if name == "" || strings.EqualFold(name, "utf-8") {
		return true
	}
	_, err := htmlindex.Get(name)
	return err == nil
}

func lookup(name string) encoding.Encoding {
	if name == "" || strings.EqualFold(name, "utf-8") {
		return nil
	}
	e, err := htmlindex.Get(name)
	if err != nil {
		return nil
	}
	return e
}

// Decode reads text received from IRC: valid UTF-8 is kept as it is (a
// server or client that speaks UTF-8 is always understood); other bytes are
// decoded with the named encoding, or by Text's Latin-1 reading when the
// name is "" or unknown. The result then goes through Text.
func Decode(s, enc string) string {
	if utf8.ValidString(s) {
		return Text(s)
	}
	if e := lookup(enc); e != nil {
		if d, err := e.NewDecoder().String(s); err == nil {
			return Text(d)
		}
	}
	return Text(s)
}

// Encode converts text to send to IRC into the named encoding (UTF-8 for ""
// or "utf-8"); characters the encoding cannot hold become '?'.
func Encode(s, enc string) string {
	e := lookup(enc)
	if e == nil {
		return s
	}
	out, err := encoding.ReplaceUnsupported(e.NewEncoder()).String(s)
	if err != nil {
		return s
	}
	return out
}
