package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadHeader feeds arbitrary bytes to ReadHeader and Next: they must
// never panic, every failure must be a *Error (or the end of input), and an
// accepted header must survive AppendXML and a second read unchanged.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte(prosodyHeader))
	f.Add([]byte(ejabberdHeader + "<handshake/></stream:stream>"))
	f.Add([]byte(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='a&amp;b'>`))
	f.Add([]byte(`<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams' version='2.0'>`))
	f.Add([]byte(`<?xml version='1.0' encoding='UTF-16'?><stream:stream>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b), ReaderOptions{})
		h, err := r.ReadHeader()
		if err != nil {
			var se *Error
			if !errors.As(err, &se) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		r2 := NewReader(bytes.NewReader(h.AppendXML(nil)), ReaderOptions{})
		h2, err := r2.ReadHeader()
		if err != nil {
			t.Fatalf("re-read of %s: %v", h.AppendXML(nil), err)
		}
		if h2 != h {
			t.Fatalf("round trip %+v -> %+v", h, h2)
		}
		for i := 0; i < 100; i++ {
			el, err := r.Next()
			if err != nil {
				return
			}
			if el.IsStanza() {
				_, _ = el.Stanza()
			}
			_, _ = el.Text()
		}
	})
}
