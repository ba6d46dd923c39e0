package stanza_test

import (
	"encoding/xml"
	"errors"
	"fmt"

	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Decoding a stanza and reading its payload lazily.
func ExampleDecode() {
	s, err := stanza.Decode([]byte(`<iq type='get' id='v1' from='romeo@montague.example/orchard' to='svc.example'><query xmlns='jabber:iq:version'/></iq>`))
	if err != nil {
		panic(err)
	}
	space, local := s.PayloadName()
	fmt.Println(s.Kind, s.Type, s.From, space, local)
	// Output: iq get romeo@montague.example/orchard jabber:iq:version query
}

// Answering an iq: Result swaps the addresses and keeps the id.
func ExampleStanza_Result() {
	req, _ := stanza.Decode([]byte(`<iq type='get' id='v1' from='romeo@montague.example/orchard' to='svc.example'><query xmlns='jabber:iq:version'/></iq>`))
	type version struct {
		XMLName xml.Name `xml:"jabber:iq:version query"`
		Name    string   `xml:"name"`
	}
	payload, err := stanza.MarshalElement(version{Name: "xmppkit"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(req.Result(payload).AppendXML(nil)))
	// Output: <iq from='svc.example' to='romeo@montague.example/orchard' id='v1' type='result'><query xmlns="jabber:iq:version"><name>xmppkit</name></query></iq>
}

// Stanza errors are Go errors, matched by condition.
func ExampleStanza_ErrorReply() {
	req, _ := stanza.Decode([]byte(`<iq type='get' id='7' from='a@example.com/r' to='svc.example'><items xmlns='urn:x'/></iq>`))
	var handlerErr error = fmt.Errorf("lookup: %w", stanza.NewError(stanza.ItemNotFound, "no such node"))

	var se *stanza.Error
	if errors.As(handlerErr, &se) {
		reply := req.ErrorReply(se)
		fmt.Println(reply)
		fmt.Println(errors.Is(reply.Err(), stanza.ErrItemNotFound))
	}
	// Output:
	// <iq from='svc.example' to='a@example.com/r' id='7' type='error'><items xmlns='urn:x'/><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such node</text></error></iq>
	// true
}

// Building a message and encoding it into a reused buffer.
func ExampleNewMessage() {
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("juliet@capulet.example"), "Art thou not Romeo, & a Montague?")
	m.ID = "m1" // NewMessage draws a fresh id; fixed here for the output
	buf := m.AppendXML(make([]byte, 0, 256))
	fmt.Println(string(buf))
	// Output: <message to='juliet@capulet.example' id='m1' type='chat'><body>Art thou not Romeo, &amp; a Montague?</body></message>
}
