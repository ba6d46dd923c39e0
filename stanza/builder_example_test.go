package stanza_test

import (
	"fmt"

	"xmppkit.dev/stanza"
)

// A jabber:iq:version answer (XEP-0092 §2) built with escaping calls: the
// user-supplied text cannot become markup.
func ExampleBuilder() {
	name := "echo <bot>"
	el := stanza.NewBuilder("jabber:iq:version", "query").
		TextElement("name", name).
		TextElement("version", "1.0").
		Element()
	fmt.Println(el.XML())
	// Output: <query xmlns='jabber:iq:version'><name>echo &lt;bot&gt;</name><version>1.0</version></query>
}
