package console

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Indent returns the XML element raw (a stanza as the router routes it)
// pretty-printed for reading: one element a line, children indented by two
// spaces, an element holding only text on one line, an empty one
// self-closed, whitespace between elements dropped. Prefixes, namespace
// declarations and attribute order are kept as written; text and attribute
// values are escaped again (&amp; &lt; &gt; and &apos; in attributes), so
// the result is XML too, equal to raw but for whitespace between elements
// and around text mixed with elements. It fails on input that is not one well-formed element; the
// router routes only such elements.
func Indent(raw []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = true
	var toks []xml.Token
	var open []xml.Name
	for {
		t, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			toks = append(toks, t.Copy())
		case xml.StartElement:
			toks = append(toks, t.Copy())
			open = append(open, t.Name)
		case xml.EndElement:
			// RawToken does not match end tags to start tags.
			if len(open) == 0 || open[len(open)-1] != t.Name {
				return "", errors.New("console: mismatched end tag")
			}
			open = open[:len(open)-1]
			toks = append(toks, t)
		default:
			// The router routes no comments, processing instructions or
			// directives (RFC 6120 §11.1); drop them if any.
		}
	}
	var b strings.Builder
	depth, roots := 0, 0
	for i := 0; i < len(toks); i++ {
		switch t := toks[i].(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			line(&b, depth)
			writeStart(&b, t)
			// <x/>, <x>text</x>: one line.
			switch next := tokAt(toks, i+1).(type) {
			case xml.EndElement:
				b.WriteString("/>")
				i++
				continue
			case xml.CharData:
				if _, end := tokAt(toks, i+2).(xml.EndElement); end {
					b.WriteByte('>')
					escapeText(&b, next)
					writeEnd(&b, t.Name)
					i += 2
					continue
				}
			}
			b.WriteByte('>')
			depth++
		case xml.EndElement:
			depth--
			line(&b, depth)
			writeEnd(&b, t.Name)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) == 0 {
				continue // indentation between elements
			}
			line(&b, depth)
			escapeText(&b, t)
		}
	}
	if roots != 1 || depth != 0 {
		return "", errors.New("console: not one XML element")
	}
	return b.String(), nil
}

func tokAt(toks []xml.Token, i int) xml.Token {
	if i < len(toks) {
		return toks[i]
	}
	return nil
}

func line(b *strings.Builder, depth int) {
	if b.Len() > 0 {
		b.WriteByte('\n')
	}
	for range depth {
		b.WriteString("  ")
	}
}

func writeName(b *strings.Builder, n xml.Name) {
	if n.Space != "" {
		b.WriteString(n.Space)
		b.WriteByte(':')
	}
	b.WriteString(n.Local)
}

func writeStart(b *strings.Builder, t xml.StartElement) {
	b.WriteByte('<')
	writeName(b, t.Name)
	for _, a := range t.Attr {
		b.WriteByte(' ')
		writeName(b, a.Name)
		b.WriteString("='")
		escape(b, a.Value, true)
		b.WriteByte('\'')
	}
}

func writeEnd(b *strings.Builder, n xml.Name) {
	b.WriteString("</")
	writeName(b, n)
	b.WriteByte('>')
}

func escapeText(b *strings.Builder, t xml.CharData) { escape(b, string(t), false) }

// escape writes s escaped for XML text (attr false) or a single-quoted
// attribute value (attr true, which also escapes line breaks and tabs so
// that they survive attribute value normalization).
func escape(b *strings.Builder, s string, attr bool) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case attr && r == '\'':
			b.WriteString("&apos;")
		case attr && r == '\n':
			b.WriteString("&#xA;")
		case attr && r == '\r':
			b.WriteString("&#xD;")
		case attr && r == '\t':
			b.WriteString("&#x9;")
		case r == '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}
